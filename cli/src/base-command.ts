import { Command, Errors } from '@oclif/core';
import { isIscsiError, type IscsiError } from '@iscsi-initiator/core/rpc';
import { EXIT_CODES_HELP, ExitCode, exitCodeFor } from './exit-codes.js';

/**
 * Every iscsiadm command: `--json` prints only JSON on stdout; any failure becomes one line a person can act on (and
 * an open-iscsi exit code), never a stack trace.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static exitCodesHelp = `Exit codes (open-iscsi's):\n${EXIT_CODES_HELP}`;

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<never> {
    const jsonMode = this.jsonEnabled();
    let code: number;
    let message: string;
    let payload: Record<string, unknown>;
    if (isIscsiError(err)) {
      code = exitCodeFor(err.code);
      message = oneLine(err);
      payload = err.toJSON();
    } else if (err instanceof Errors.ExitError) {
      throw err;
    } else if (isParseError(err)) {
      code = ExitCode.InvalidArgument;
      message = parseErrorLine(err.message);
      payload = { code: 'ISCSI_BAD_ARGUMENT', message };
    } else {
      code = err.oclif?.exit ?? ExitCode.Generic;
      message = firstLine(err.message);
      payload = { code: 'ISCSI_INTERNAL', message };
    }
    if (jsonMode) process.stdout.write(`${JSON.stringify({ error: payload })}\n`);
    else process.stderr.write(`iscsiadm: ${message}\n`);
    return this.exit(code);
  }
}

/** An error as the one line iscsiadm prints: its message, and its hint when the message lacks it. */
export function oneLine(err: IscsiError): string {
  const message = firstLine(err.message);
  return err.hint && !message.includes(err.hint) ? `${message} (${err.hint})` : message;
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).replace(/^Error:\s*/, '').trim();
}

/**
 * oclif's flag-validation errors open with "The following error(s) occurred:" and give the reasons on the lines below
 * (dimmed on a terminal): the reasons are the line, joined, so it says which flags clash or which one is missing.
 */
function parseErrorLine(text: string): string {
  const lines = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length > 1 && /^The following errors? occurred:$/.test(lines[0]!)) {
    return lines.slice(1).filter((l) => !/^See more help with/.test(l)).join('; ');
  }
  return firstLine(text);
}

function isParseError(err: unknown): boolean {
  return err instanceof Error && ('parse' in err || err.constructor.name.endsWith('FlagError') || /flag|argument/i.test(err.constructor.name));
}
