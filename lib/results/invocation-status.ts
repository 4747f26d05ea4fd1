/** Run Command invocation statuses after which nothing more happens on the host. */
export const TERMINAL_STATUSES = ['Success', 'Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'Terminated', 'DeliveryTimedOut', 'ExecutionTimedOut', 'InvalidPlatform', 'AccessDenied'] as const;
