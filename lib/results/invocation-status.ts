/**
 * Run Command invocation statuses that are not final. Everything else (Success, Failed,
 * TimedOut, Cancelled, and the details Undeliverable, Delivery Timed Out, Execution Timed
 * Out, Terminated, Access Denied, Invalid Platform) ends the invocation.
 */
export const NON_TERMINAL_STATUSES = ['Pending', 'InProgress', 'Delayed', 'Cancelling'] as const;

/** "Delivery Timed Out" and "DeliveryTimedOut" both become "DeliveryTimedOut". */
export function statusKey(status: string): string {
  return status.replace(/\s+/g, '');
}

export function isTerminal(status: string): boolean {
  return !(NON_TERMINAL_STATUSES as readonly string[]).includes(statusKey(status));
}
