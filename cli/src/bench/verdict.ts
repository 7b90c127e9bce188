import { ExitCode, exitCodeFor } from '../exit-codes.js';
import type { BenchOutcome } from './engine.js';

/**
 * What a finished bench run means for its exit status. The result is printed either way (a soak run wants its
 * numbers); the status and one line tell a script it was not clean. Bad data outranks everything (exit 1), then a
 * lost session (its transport code, 4 by default), then failed commands (1). An interrupted run is clean.
 */
export function verdict(outcome: BenchOutcome): { status: number; message: string } | undefined {
  const r = outcome.result;
  const problems: string[] = [];
  let status: number | undefined;
  if (r.verify && r.verify.mismatches > 0) {
    status = ExitCode.Generic;
    problems.push(`verify failed: ${r.verify.mismatches} of ${r.verify.checked} blocks checked did not match; first: ${r.verify.firstMismatch?.message}`);
  }
  if (outcome.sessionLost) {
    const code = exitCodeFor(outcome.sessionError?.code);
    status ??= code === ExitCode.Generic ? ExitCode.Transport : code;
    problems.push(`the session was lost during the run: ${outcome.sessionError?.message ?? 'connection closed'}`);
  } else if (r.errors > 0) {
    status ??= ExitCode.Generic;
    problems.push(`${r.errors} commands failed; first: ${outcome.firstError?.message}`);
  }
  return status === undefined ? undefined : { status, message: problems.join('; ') };
}
