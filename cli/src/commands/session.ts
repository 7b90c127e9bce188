import { Flags, ux } from '@oclif/core';
import type { RpcClient } from '@iscsi-initiator/core/rpc';
import { BaseCommand } from '../base-command.js';
import { daemonFlags, withDaemon } from '../daemon.js';
import { ExitCode } from '../exit-codes.js';
import { lunLines, sessionLine, sessionRef, sessionTree, statsLines } from '../session/format.js';
import { isSessionNotFound } from '../session/not-found.js';
import type { Lun, SessionDetails, SessionInfo, SessionStats } from '../session/types.js';

/** What --json prints: the daemon's own results (one per session acted on, or the list). */
export type SessionResult =
  | SessionInfo[]
  | SessionDetails[]
  | SessionStats
  | SessionStats[]
  | { luns: Lun[] }
  | Array<{ sid: number; luns: Lun[] }>
  | { loggedOut: number };

export default class Session extends BaseCommand {
  static override summary = 'List the daemon\'s sessions, show their details, statistics, rescan or log out';
  static override description = `Without flags prints open-iscsi's one line per session: tcp: [SID] PORTAL,TPGT IQN (non-flash). -P 1 adds each session's state, ISID and TSIH; -P 2 the timeouts and negotiated iSCSI parameters; -P 3 the LUNs found (vendor, model, serial, size). With -r SID: -s prints its statistics, -R rescans its LUNs, -u logs it out; without -r they act on every session.

A logout first lets go of the LUNs' volumes: a volume in use (on macOS), a file system mounted from the disk or a process using it (under the HBA simulator) refuses it with exit 28, naming it; the session stays. -u --force (not in open-iscsi) unmounts them anyway, and logs out while processes still use the disk: their I/O then fails.

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> session',
    '<%= config.bin %> session -P 3',
    '<%= config.bin %> session -r 1 -s',
    '<%= config.bin %> session -r 1 -R',
    '<%= config.bin %> session -r 1 -u',
    '<%= config.bin %> session -r 1 -u --force   # unmounts its volumes even in use',
    '<%= config.bin %> -m session -P 1   # open-iscsi form',
    '<%= config.bin %> session -r 1 -P 2 --json',
  ];
  static override flags = {
    print: Flags.integer({ char: 'P', description: 'detail level: 0 one line per session, 1 state and ids, 2 + parameters and timeouts, 3 + LUNs', min: 0, max: 3 }),
    sid: Flags.integer({ char: 'r', description: 'act on this session id only', min: 0 }),
    stats: Flags.boolean({ char: 's', description: 'print session statistics', exclusive: ['rescan', 'logout', 'print'] }),
    rescan: Flags.boolean({ char: 'R', description: 'rescan the LUNs (REPORT LUNS, INQUIRY, READ CAPACITY) and print them', exclusive: ['stats', 'logout', 'print'] }),
    logout: Flags.boolean({ char: 'u', description: 'log out (SYNCHRONIZE CACHE first)', exclusive: ['stats', 'rescan', 'print'] }),
    force: Flags.boolean({ description: 'with -u: unmount the LUNs\' volumes forcibly, even in use, and log out while processes use the disk (their I/O then fails); not in open-iscsi', dependsOn: ['logout'] }),
    ...daemonFlags,
  };

  async run(): Promise<SessionResult> {
    const { flags } = await this.parse(Session);
    return withDaemon(flags.socket, async (client) => {
      // Resolving the sid first makes an unknown one fail the same way (exit 2) whatever the action.
      const targets = flags.sid === undefined ? await client.call('sessions.list') : [await client.call('sessions.get', { sid: flags.sid })];
      if (targets.length === 0) return this.noSessions(flags.logout ? { loggedOut: 0 } : []);
      if (flags.stats) return this.stats(client, targets, flags.sid !== undefined);
      if (flags.rescan) return this.rescan(client, targets, flags.sid !== undefined);
      if (flags.logout) return this.logout(client, targets, flags.sid, flags.force);
      return this.show(client, targets, flags.print ?? 0);
    });
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<never> {
    if (!isSessionNotFound(err)) return super.catch(err);
    const hint = err.hint ? ` (${err.hint})` : '';
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ error: err.toJSON() })}\n`);
    else process.stderr.write(`iscsiadm: session not found: ${err.message}${hint}\n`);
    return this.exit(ExitCode.SessionNotFound);
  }

  private noSessions(result: SessionResult): never {
    // open-iscsi: "No active sessions." and exit 21 (ISCSI_ERR_NO_OBJS_FOUND).
    if (this.jsonEnabled()) this.logJson(result);
    else this.logToStderr('iscsiadm: No active sessions.');
    return this.exit(ExitCode.NoObjectsFound);
  }

  private async show(client: RpcClient, sessions: SessionInfo[], level: number): Promise<SessionInfo[] | SessionDetails[]> {
    if (level === 0) {
      for (const s of sessions) this.log(sessionLine(s));
      return sessions;
    }
    const details = level >= 2 ? await Promise.all(sessions.map((s) => ('parameters' in s ? (s as SessionDetails) : client.call('sessions.get', { sid: s.sid })))) : sessions;
    if (this.jsonEnabled()) return details;
    const initiator = await client.call('initiator.get');
    const settings = new Map<number, Record<string, string>>();
    if (level >= 2) {
      for (const s of details) {
        // The node may have been deleted since login; its timeouts are then simply not shown.
        const node = await client.call('nodes.get', { targetName: s.targetName, portal: s.portal }).catch(() => undefined);
        if (node) settings.set(s.sid, node.settings);
      }
    }
    for (const line of sessionTree(details, { level: level as 1 | 2 | 3, initiatorName: initiator.name, settings })) this.log(line);
    return details;
  }

  private async stats(client: RpcClient, sessions: SessionInfo[], one: boolean): Promise<SessionStats | SessionStats[]> {
    const all: SessionStats[] = [];
    for (const s of sessions) {
      const stats = await client.call('sessions.stats', { sid: s.sid });
      all.push(stats);
      for (const line of statsLines(s, stats)) this.log(line);
    }
    return one ? all[0]! : all;
  }

  private async rescan(client: RpcClient, sessions: SessionInfo[], one: boolean): Promise<{ luns: Lun[] } | Array<{ sid: number; luns: Lun[] }>> {
    const all: Array<{ sid: number; luns: Lun[] }> = [];
    // A spinner only for a person watching: never on a pipe, never mixed into --json output.
    const spin = process.stderr.isTTY && !this.jsonEnabled();
    for (const s of sessions) {
      this.log(`Rescanning session ${sessionRef(s)}`);
      if (spin) ux.action.start(`Scanning LUNs of session ${s.sid}`);
      try {
        const { luns } = await client.call('sessions.rescan', { sid: s.sid });
        if (spin) ux.action.stop(`${luns.length} LUN${luns.length === 1 ? '' : 's'}`);
        all.push({ sid: s.sid, luns });
        for (const lun of luns) for (const line of lunLines(lun, '\t')) this.log(line);
      } catch (err) {
        if (spin) ux.action.stop('failed');
        throw err;
      }
    }
    return one ? { luns: all[0]!.luns } : all;
  }

  private async logout(client: RpcClient, sessions: SessionInfo[], sid: number | undefined, force: boolean): Promise<{ loggedOut: number }> {
    for (const s of sessions) this.log(`Logging out of session ${sessionRef(s)}`);
    try {
      const result = await client.call('sessions.logout', { ...(sid === undefined ? { all: true as const } : { sid }), ...(force ? { force: true } : {}) });
      for (const s of sessions) this.log(`Logout of ${sessionRef(s)} successful.`);
      return result;
    } catch (e) {
      if (sid !== undefined) throw e;
      // All at once logs out every session it can, and fails with the first refusal: say which did go first.
      const left = new Set((await client.call('sessions.list')).map((s) => s.sid));
      for (const s of sessions) if (!left.has(s.sid)) this.log(`Logout of ${sessionRef(s)} successful.`);
      throw e;
    }
  }
}
