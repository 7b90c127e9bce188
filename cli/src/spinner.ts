import { ux } from '@oclif/core';

/**
 * A spinner on stderr while `fn` runs — only for a person at a terminal (never with --json, never in a pipe), as
 * oclif's multi-stage output does.
 */
export async function withSpinner<T>(show: boolean, text: string, fn: () => Promise<T>): Promise<T> {
  if (!show || !process.stderr.isTTY) return fn();
  ux.action.start(text);
  try {
    const result = await fn();
    ux.action.stop('done');
    return result;
  } catch (e) {
    ux.action.stop('failed');
    throw e;
  }
}
