import { Flags } from '@oclif/core';
import {
  credentialsFromEnv,
  discoverTargets,
  formatPortal,
  isIscsiError,
  loginAuthFrom,
  parsePortal,
  type Portal,
} from '@iscsi-initiator/core';
import type { RpcClient } from '@iscsi-initiator/core/rpc';
import { initiatorNameForDirectUse } from '../initiator-name.js';
import { BaseCommand } from '../base-command.js';
import { withSpinner } from '../spinner.js';
import { connectDaemon, daemonFlags } from '../daemon.js';
import { ExitCode } from '../exit-codes.js';
import { loginExitCode, loginFailureLine, loginNodes, type SessionInfo } from '../node/login.js';
import { CREDENTIALS_HELP, directFlags } from '../target-options.js';

export interface DiscoveryResult {
  readonly portal: string;
  readonly targets: ReadonlyArray<{
    readonly targetName: string;
    readonly portals: ReadonlyArray<{ readonly address: string; readonly port: number; readonly portalGroupTag: number | null }>;
  }>;
  /** Node records iscsid wrote; absent when no daemon ran and discovery was done directly. */
  readonly recorded?: number;
  /** With -l: the sessions opened. */
  readonly sessions?: SessionInfo[];
}

type DiscoveredTargets = DiscoveryResult['targets'];

export default class Discovery extends BaseCommand {
  static override summary = 'Discover the targets a portal offers (SendTargets)';
  static override description = `Opens a discovery session to the portal, asks SendTargets=All, prints one line per target portal in open-iscsi's format (PORTAL,TPGT IQN), and logs out. When iscsid runs, it does the discovery and records every target portal as a node (see \`iscsiadm node\`); -l then logs in to each. Without iscsid, the discovery is done directly and nothing is recorded. ${CREDENTIALS_HELP} (With iscsid, $ISCSI_CHAP_USERNAME selects the discovery secret iscsid has stored for the portal.)

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> discovery -p 192.168.1.20',
    '<%= config.bin %> discovery -p nas.local:3260 --json',
    '<%= config.bin %> -m discovery -t st -p 192.168.1.20   # open-iscsi form',
    '<%= config.bin %> -m discovery -t st -p 192.168.1.20 -l   # and log in to every target found',
    'ISCSI_CHAP_USERNAME=me ISCSI_CHAP_SECRET=… <%= config.bin %> discovery -p [fd00::20]:3260',
  ];
  static override flags = {
    portal: Flags.string({ char: 'p', description: 'portal to ask: HOST[:PORT] (IPv6 in brackets); port 3260 by default', required: true }),
    type: Flags.string({ char: 't', description: 'discovery type (open-iscsi): st or sendtargets', options: ['st', 'sendtargets'], default: 'st' }),
    login: Flags.boolean({ char: 'l', description: 'log in to every discovered node (needs iscsid)' }),
    ...directFlags,
    ...daemonFlags,
  };

  async run(): Promise<DiscoveryResult> {
    const { flags } = await this.parse(Discovery);
    const portal = parsePortal(flags.portal);
    const client = await connectDaemon(flags.socket).catch((error: unknown) => {
      // No daemon: discovery still works directly, but there is nowhere to record nodes or keep sessions.
      if (isIscsiError(error) && error.code === 'ISCSI_DAEMON_NOT_RUNNING' && !flags.login) return undefined;
      throw error;
    });
    if (client === undefined) {
      const targets = await this.discoverDirectly(portal, flags);
      // Only after success: a failed discovery's one-line error says all there is to say.
      process.stderr.write('iscsid is not running: discovered directly, nothing recorded\n');
      return this.report(portal, targets);
    }
    try {
      const answer = await withSpinner(!this.jsonEnabled(), `Discovering targets at ${flags.portal}`, () => client.call('discovery.sendTargets', {
        portal: formatPortal(portal),
        ...(credentialsFromEnv().user === undefined ? {} : { username: credentialsFromEnv().user }),
      }));
      const result = this.report(portal, answer.targets, answer.recorded);
      if (!flags.login) return result;
      return { ...result, sessions: await this.loginAll(client, answer.targets) };
    } finally {
      client.close();
    }
  }

  private async discoverDirectly(portal: Portal, flags: { 'initiator-name'?: string | undefined; 'login-timeout': number }): Promise<DiscoveredTargets> {
    const timeoutMs = flags['login-timeout'] * 1000;
    const initiatorName = await initiatorNameForDirectUse(flags['initiator-name']);
    const targets = await withSpinner(!this.jsonEnabled(), `Discovering targets at ${formatPortal(portal)}`, () => discoverTargets({
      portal,
      initiatorName,
      auth: loginAuthFrom(credentialsFromEnv()),
      connectTimeoutMs: timeoutMs,
      loginTimeoutMs: timeoutMs,
    }));
    return targets.map((t) => ({
      targetName: t.targetName,
      portals: t.portals.map((p) => ({ address: p.host, port: p.port, portalGroupTag: p.portalGroupTag ?? null })),
    }));
  }

  /** Prints open-iscsi's lines; no target at all exits 21 (no records found), as open-iscsi does. */
  private report(portal: Portal, targets: DiscoveredTargets, recorded?: number): DiscoveryResult {
    const result: DiscoveryResult = { portal: formatPortal(portal), targets, ...(recorded === undefined ? {} : { recorded }) };
    for (const target of targets) {
      for (const p of target.portals) this.log(`${formatPortal({ host: p.address, port: p.port })},${p.portalGroupTag ?? 1} ${target.targetName}`);
    }
    if (targets.length === 0) {
      if (this.jsonEnabled()) this.logJson(result);
      else this.logToStderr(`iscsiadm: no targets found at ${formatPortal(portal)}`);
      this.exit(ExitCode.NoObjectsFound);
    }
    return result;
  }

  /** -l: a session to every target portal just discovered; each failure is one line, the first sets the exit code. */
  private async loginAll(client: RpcClient, targets: DiscoveredTargets): Promise<SessionInfo[]> {
    const nodes = targets.flatMap((t) => t.portals.map((p) => ({ targetName: t.targetName, portal: formatPortal({ host: p.address, port: p.port }) })));
    const outcome = await withSpinner(!this.jsonEnabled(), `Logging in to ${nodes.length} node${nodes.length === 1 ? '' : 's'}`, () => loginNodes(client, nodes, (line) => this.log(line)));
    const first = outcome.failures[0];
    if (first !== undefined) {
      for (const f of outcome.failures) process.stderr.write(`${loginFailureLine(f.node, f.error)}\n`);
      this.exit(loginExitCode(first.error));
    }
    return outcome.sessions;
  }
}
