import { Flags } from '@oclif/core';
import { ArgumentError } from '@iscsi-initiator/core/rpc';
import { BaseCommand } from '../../base-command.js';
import { closedOutput } from '../../closed-output.js';
import { connectDaemon, daemonFlags } from '../../daemon.js';
import { ExitCode } from '../../exit-codes.js';
import { errorText, startWatchFeed } from '../../watch/feed.js';
import { formatPlainLine, initialWatchState, reduceWatch, snapshotOf, type SessionSnapshot, type WatchEvent, type WatchState } from '../../watch/model.js';

export interface WatchResult {
  readonly sessions: readonly SessionSnapshot[];
}

export default class SessionWatch extends BaseCommand {
  static override summary = 'Watch the daemon\'s sessions live: state, throughput, IOPS, recovery events';
  static override description = `On a terminal, a live table fed by the daemon's notifications (no fast polling): state, read/write MB/s and IOPS from successive statistics, a sparkline of the last minute, the configured queue depth, the disk's tasks in flight and I/O errors (DISK, under iscsid --hba), and a log of state changes with their reasons. Keys: ↑/↓ select, l log in (a logged-out session's node), u log out, r rescan LUNs, q quit.

When stdout is not a terminal, prints one plain line per session at each statistics notification (every 2 s) until interrupted, with the disk's in-flight tasks, I/O errors and aborts where the session has one; --once prints one snapshot and exits (with --json, as JSON).

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> session watch',
    '<%= config.bin %> session watch --once',
    '<%= config.bin %> session watch --once --json',
    '<%= config.bin %> session watch | tee sessions.log   # plain lines every 2 s',
  ];
  static override flags = {
    once: Flags.boolean({ description: 'print one snapshot and exit' }),
    ...daemonFlags,
  };

  async run(): Promise<WatchResult | undefined> {
    const { flags } = await this.parse(SessionWatch);
    if (this.jsonEnabled() && !flags.once) throw new ArgumentError('ISCSI_BAD_ARGUMENT', '--json needs --once', { hint: 'use `iscsiadm session watch --once --json`' });
    const client = await connectDaemon(flags.socket);
    try {
      if (flags.once) return await this.snapshot(client);
      if (process.stdout.isTTY && process.stdin.isTTY) await this.live(client);
      else await this.plain(client);
      return undefined;
    } finally {
      client.close();
    }
  }

  private async snapshot(client: Awaited<ReturnType<typeof connectDaemon>>): Promise<WatchResult> {
    let state: WatchState = initialWatchState;
    const stop = await startWatchFeed(client, (e) => (state = reduceWatch(state, e)));
    stop();
    const result: WatchResult = { sessions: state.rows.map(snapshotOf) };
    if (this.jsonEnabled()) return result;
    if (state.rows.length === 0) {
      this.logToStderr('iscsiadm: no active sessions');
      this.exit(ExitCode.NoObjectsFound);
    }
    for (const row of state.rows) this.log(formatPlainLine(row));
    return result;
  }

  /** Not a terminal: a line per session at each stats notification, state changes as they come, until SIGINT. */
  private async plain(client: Awaited<ReturnType<typeof connectDaemon>>): Promise<void> {
    let state: WatchState = initialWatchState;
    const print = (e: WatchEvent): void => {
      state = reduceWatch(state, e);
      if (e.type === 'stats') {
        const row = state.rows.find((r) => r.sid === e.stats.sid);
        if (row) this.log(formatPlainLine(row));
      } else if (e.type === 'stateChanged' || e.type === 'lunsChanged' || e.type === 'log') {
        const entry = state.log.at(-1);
        if (entry) this.log(`${new Date(entry.at).toISOString()} ${entry.text}`);
      }
    };
    const stop = await startWatchFeed(client, print);
    // Until interrupted, or until the reader of our output goes away (`session watch | head -n 5`).
    await new Promise<void>((resolve) => {
      let stopClosed = (): void => {};
      const done = (): void => {
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        stopClosed();
        resolve();
      };
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      stopClosed = closedOutput.onClose(done);
    });
    stop();
  }

  private async live(client: Awaited<ReturnType<typeof connectDaemon>>): Promise<void> {
    // Loaded only on a terminal: ink and React cost startup time the plain paths do not need.
    const [{ render }, { createElement }, { WatchView }] = await Promise.all([import('ink'), import('react'), import('../../watch/view.js')]);
    let failure: unknown;
    const app = render(createElement(WatchView, { client, onError: (e: unknown) => (failure = e) }));
    await app.waitUntilExit().catch((e: unknown) => {
      failure ??= e;
    });
    if (failure !== undefined) throw failure instanceof Error ? failure : new ArgumentError('ISCSI_BAD_ARGUMENT', errorText(failure));
  }
}
