/**
 * The Comment on every command shipshape sends, `shipshape <stack> <runbook> <runId>`.
 * GetCommandInvocation returns it, so the result Lambda learns stack and run without another
 * call. The fleet is not in it: the document names the fleet already, and SendCommand allows
 * 100 characters, which the longest stack name (40), runbook and a 36-character Automation
 * execution ID just fit (COMMENT_LIMIT; lib/config checks it at synth).
 */
export const COMMENT_LIMIT = 100;

export function commandComment(stack: string, runbook: string, runId: string): string {
  const comment = `shipshape ${stack} ${runbook} ${runId}`;
  if (comment.length > COMMENT_LIMIT) throw new Error(`command comment is ${comment.length} characters, over SendCommand's ${COMMENT_LIMIT}: ${comment}`);
  return comment;
}

export function parseCommandComment(comment: string | undefined): { stack: string; runbook: string; runId: string } | undefined {
  const m = /^shipshape ([a-z0-9-]+) ([a-z-]+) ([A-Za-z0-9-]+)$/.exec(comment ?? '');
  return m ? { stack: m[1]!, runbook: m[2]!, runId: m[3]! } : undefined;
}
