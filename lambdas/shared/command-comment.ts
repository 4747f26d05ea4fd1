/**
 * The Comment the dispatcher puts on every command, `shipshape <fleet>/<stack> <runbook> <runId>`.
 * GetCommandInvocation returns it, so the result Lambda learns stack and run without another call.
 */
export function commandComment(fleet: string, stack: string, runbook: string, runId: string): string {
  return `shipshape ${fleet}/${stack} ${runbook} ${runId}`.slice(0, 100);
}

export function parseCommandComment(comment: string | undefined): { stack: string; runbook: string; runId: string } | undefined {
  const m = /^shipshape [a-z0-9-]+\/([a-z0-9-]+) ([a-z-]+) ([A-Za-z0-9-]+)$/.exec(comment ?? '');
  return m ? { stack: m[1]!, runbook: m[2]!, runId: m[3]! } : undefined;
}
