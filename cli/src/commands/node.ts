import { Flags } from '@oclif/core';
import { ArgumentError, findInOrder, isIscsiError, isSecretKey, TransportError, type IscsiError, type NodeRecord, type RpcClient } from '@iscsi-initiator/core/rpc';
import { BaseCommand, oneLine } from '../base-command.js';
import { withSpinner } from '../spinner.js';
import { withDaemon, daemonFlags } from '../daemon.js';
import { ExitCode, exitCodeFor } from '../exit-codes.js';
import { loginExitCode, loginFailureLine, loginNodes, type LoginOutcome, type SessionInfo } from '../node/login.js';
import { readSecret } from '../node/secret-input.js';

/** The node settings that are CHAP secrets, and the secret-store kind each one is (docs/api.md, secrets.set). */
const SECRET_KINDS: Readonly<Record<string, 'password' | 'password_in'>> = {
  'node.session.auth.password': 'password',
  'node.session.auth.password_in': 'password_in',
};

export type NodeResult =
  | NodeRecord[]
  | { deleted: number }
  | { stored: true; key: string }
  | { sessions: SessionInfo[]; failures: Array<{ targetName: string; portal: string; error: Record<string, unknown> }> }
  | { loggedOut: SessionInfo[]; failures?: Array<{ sid: number; targetName: string; portal: string; error: Record<string, unknown> }> };

export default class Node extends BaseCommand {
  static override summary = 'The node database: list, show, update and delete nodes; log in and out';
  static override description = `Without -T, lists every node iscsid knows, one line each in open-iscsi's format (PORTAL,TPGT IQN). With -T (and -p to pick one portal; without it, every portal of the target): -o show prints every setting as "key = value", -o update -n KEY -v VALUE changes one, -o delete forgets the node, --login / --logout open or close its session. -L all|automatic logs in to every (automatic) node, -U all logs out every session.

A logout first lets go of the LUNs' volumes: a volume in use (on macOS), a file system mounted from the disk or a process using it (under the HBA simulator) refuses the logout with exit 28, naming it; the session stays. --force (not in open-iscsi) unmounts them anyway, and logs out while processes still use the disk: their I/O then fails.

CHAP secrets are never taken from the command line: "-o update -n node.session.auth.password" (or password_in) asks for the secret on the terminal without echo, or reads the first line of stdin with --password-stdin; iscsid keeps it in its secret store.

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> node',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 -o show',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 -p 10.0.0.5 -o update -n node.startup -v automatic',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 -o update -n node.session.auth.authmethod -v CHAP',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 -o update -n node.session.auth.password   # asks, no echo',
    'security find-generic-password -w -s nas | <%= config.bin %> node -T iqn.2004-04.com.example:disk1 -o update -n node.session.auth.password --password-stdin',
    '<%= config.bin %> -m node -T iqn.2004-04.com.example:disk1 -p 10.0.0.5 --login   # open-iscsi form',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 --logout',
    '<%= config.bin %> node -T iqn.2004-04.com.example:disk1 --logout --force   # unmounts its volumes even in use',
    '<%= config.bin %> node -L automatic',
    '<%= config.bin %> node -U all',
  ];

  static override flags = {
    targetname: Flags.string({ char: 'T', description: 'target name (IQN) of the node' }),
    portal: Flags.string({ char: 'p', description: 'portal of the node: HOST[:PORT]; default every portal of the target' }),
    op: Flags.string({ char: 'o', description: 'operation on the node (default show)', options: ['show', 'update', 'delete'], exclusive: ['login', 'logout', 'loginall', 'logoutall'] }),
    name: Flags.string({ char: 'n', description: 'setting to update (open-iscsi name, e.g. node.startup)', dependsOn: ['op'] }),
    value: Flags.string({ char: 'v', description: 'new value of the setting (never a secret)', dependsOn: ['name'] }),
    login: Flags.boolean({ char: 'l', description: 'log in to the node(s)', exclusive: ['logout', 'loginall', 'logoutall'] }),
    logout: Flags.boolean({ char: 'u', description: 'log out of the node(s)\' sessions', exclusive: ['loginall', 'logoutall'] }),
    loginall: Flags.string({ char: 'L', description: 'log in to every node, or every node with node.startup = automatic', options: ['all', 'automatic'], exclusive: ['logoutall', 'targetname'] }),
    logoutall: Flags.string({ char: 'U', description: 'log out of every session', options: ['all'], exclusive: ['targetname'] }),
    force: Flags.boolean({ description: 'with --logout or -U all: unmount the LUNs\' volumes forcibly, even in use, and log out while processes use the disk (their I/O then fails); not in open-iscsi' }),
    'password-stdin': Flags.boolean({ description: 'read the secret for -n node.session.auth.password[_in] from the first line of stdin' }),
    'show-secrets': Flags.boolean({ char: 'S', description: 'with -o show: print stored CHAP secrets (root only; iscsid refuses anyone else)' }),
    ...daemonFlags,
  };

  async run(): Promise<NodeResult> {
    const { flags } = await this.parse(Node);
    const secretKind = flags.name === undefined ? undefined : SECRET_KINDS[flags.name];
    // Checked before anything else: a secret in argv is already visible to every user (ps), so never accept it.
    if (flags.value !== undefined && flags.name !== undefined && (secretKind !== undefined || isSecretKey(flags.name))) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'secrets are never taken from the command line', {
        hint: `leave out -v: iscsiadm asks for ${flags.name} on the terminal, or reads it from stdin with --password-stdin`,
      });
    }
    if (flags['password-stdin'] && (flags.op !== 'update' || secretKind === undefined)) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', '--password-stdin goes with -o update -n node.session.auth.password (or password_in)');
    }
    if (flags.force && !flags.logout && flags.logoutall === undefined) throw new ArgumentError('ISCSI_BAD_ARGUMENT', '--force goes with --logout or -U all');
    const needsTarget = flags.op !== undefined || flags.login || flags.logout;
    if (needsTarget && flags.targetname === undefined) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${flags.op === undefined ? (flags.login ? '--login' : '--logout') : `-o ${flags.op}`} needs a node: give -T IQN (and -p PORTAL)`);
    }
    if (flags.op === 'update' && flags.name === undefined) throw new ArgumentError('ISCSI_BAD_ARGUMENT', '-o update needs -n KEY -v VALUE');
    if (flags.op === 'update' && secretKind === undefined && flags.value === undefined) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `-o update -n ${flags.name} needs -v VALUE`);
    }
    // Ask for the secret before connecting: a prompt must not hold a daemon connection open.
    const secret = flags.op === 'update' && secretKind !== undefined ? await readSecret({ fromStdin: flags['password-stdin'], prompt: `${flags.name}: ` }) : undefined;

    return withDaemon(flags.socket, async (client) => {
      if (flags.logoutall !== undefined) return this.logoutSessions(client, await client.call('sessions.list'), flags.force);
      if (flags.loginall !== undefined) {
        const all = await client.call('nodes.list', {});
        const nodes = flags.loginall === 'automatic' ? all.filter((n) => n.settings['node.startup'] === 'automatic') : all;
        if (nodes.length === 0) return this.noRecords(`no ${flags.loginall === 'automatic' ? 'automatic ' : ''}nodes to log in to`, { sessions: [], failures: [] });
        return this.reportLogins(await withSpinner(!this.jsonEnabled(), 'Logging in', () => loginNodes(client, nodes, (line) => this.log(line))));
      }
      const filter = { ...(flags.targetname === undefined ? {} : { targetName: flags.targetname }), ...(flags.portal === undefined ? {} : { portal: flags.portal }) };
      const nodes = await client.call('nodes.list', filter);
      if (nodes.length === 0) return this.noRecords('no records found', []);
      if (flags.targetname === undefined) {
        for (const n of nodes) this.log(`${n.portal},${n.portalGroupTag} ${n.targetName}`);
        return nodes;
      }
      const targetName = flags.targetname;
      if (flags.login) return this.reportLogins(await withSpinner(!this.jsonEnabled(), 'Logging in', () => loginNodes(client, nodes, (line) => this.log(line))));
      if (flags.logout) {
        const sessions = await client.call('sessions.list');
        return this.logoutSessions(client, sessions.filter((s) => nodes.some((n) => n.targetName === s.targetName && n.portal === s.portal)), flags.force);
      }
      if (flags.op === 'delete') {
        return client.call('nodes.delete', { targetName, ...(flags.portal === undefined ? {} : { portal: nodes[0]!.portal }) });
      }
      if (flags.op === 'update' && secretKind !== undefined) {
        // Without -p the secret is the target's, shared by all its portals (docs/api.md, secrets.set).
        await client.call('secrets.set', { targetName, ...(flags.portal === undefined ? {} : { portal: nodes[0]!.portal }), kind: secretKind, secret: secret! });
        return { stored: true, key: flags.name! };
      }
      if (flags.op === 'update') {
        const updated: NodeRecord[] = [];
        for (const n of nodes) updated.push(await client.call('nodes.update', { targetName: n.targetName, portal: n.portal, key: flags.name!, value: flags.value! }));
        return updated;
      }
      await this.show(client, nodes, flags['show-secrets']);
      return nodes;
    });
  }

  /** open-iscsi's `-o show`: identity first, then every setting, secrets only as stored or not. */
  private async show(client: RpcClient, nodes: readonly NodeRecord[], showSecrets: boolean): Promise<void> {
    for (const [i, n] of nodes.entries()) {
      if (i > 0) this.log('');
      const at = n.portal.lastIndexOf(':');
      const lines: Array<[string, string]> = [
        ['node.name', n.targetName],
        ['node.tpgt', String(n.portalGroupTag)],
        ['node.conn[0].address', n.portal.slice(0, at).replace(/^\[|\]$/g, '')],
        ['node.conn[0].port', n.portal.slice(at + 1)],
        ['node.discovery_address', n.discoveredVia ?? ''],
        ...Object.entries(n.settings),
      ];
      for (const kind of ['password', 'password_in'] as const) {
        const ref = await this.secretRef(client, n, kind);
        // -S: the secret itself, which iscsid gives to root only (secrets.reveal); otherwise just whether one is stored.
        const shown = ref !== undefined && showSecrets ? await this.reveal(client, ref) : ref !== undefined ? '********' : '';
        lines.push([`node.session.auth.${kind}`, shown]);
      }
      for (const [key, value] of lines) this.log(`${key} = ${value === '' ? '<empty>' : value}`);
    }
  }

  /** secrets.reveal, whose refusal says what -S needs: root, since it shows a secret (it changes nothing). */
  private async reveal(client: RpcClient, ref: { targetName: string; portal?: string; kind: 'password' | 'password_in' }): Promise<string> {
    try {
      return (await client.call('secrets.reveal', ref)).secret;
    } catch (e) {
      if (!isIscsiError(e) || e.code !== 'ISCSI_NOT_PERMITTED') throw e;
      throw new TransportError('ISCSI_NOT_PERMITTED', '-S shows stored CHAP secrets, which iscsid reveals to root only', { hint: 'run it with sudo, or leave out -S' });
    }
  }

  /** The stored secret that applies to the node (the rule iscsid logs in by: the portal's own, else the target's). */
  private async secretRef(client: RpcClient, n: NodeRecord, kind: 'password' | 'password_in'): Promise<{ targetName: string; portal?: string; kind: 'password' | 'password_in' } | undefined> {
    const found = await findInOrder({ targetName: n.targetName, portal: n.portal, kind }, async (ref) => ((await client.call('secrets.has', ref)).stored ? true : undefined));
    return found?.ref;
  }

  /**
   * One session after another, as open-iscsi does: a session that refuses (a busy volume, exit 28) is named on stderr
   * and the others still log out; the first refusal decides the exit code.
   */
  private async logoutSessions(client: RpcClient, sessions: readonly SessionInfo[], force: boolean): Promise<NodeResult> {
    if (sessions.length === 0) return this.noRecords('no matching sessions found', { loggedOut: [] });
    const loggedOut: SessionInfo[] = [];
    const failures: Array<{ session: SessionInfo; error: IscsiError }> = [];
    for (const s of sessions) {
      const ref = `[sid: ${s.sid}, target: ${s.targetName}, portal: ${s.portal}]`;
      try {
        await client.call('sessions.logout', { sid: s.sid, ...(force ? { force: true } : {}) });
      } catch (e) {
        if (!isIscsiError(e) || sessions.length === 1) throw e;
        failures.push({ session: s, error: e });
        if (!this.jsonEnabled()) process.stderr.write(`iscsiadm: Could not logout of ${ref}: ${oneLine(e)}\n`);
        continue;
      }
      loggedOut.push(s);
      this.log(`Logout of ${ref} successful.`);
    }
    const first = failures[0];
    if (first === undefined) return { loggedOut };
    if (this.jsonEnabled()) {
      this.logJson({ loggedOut, failures: failures.map((f) => ({ sid: f.session.sid, targetName: f.session.targetName, portal: f.session.portal, error: f.error.toJSON() })) });
    }
    return this.exit(exitCodeFor(first.error.code));
  }

  /** Every failed node gets one line; the first failure decides the exit code (15 when the session already exists). */
  private reportLogins(outcome: LoginOutcome): NodeResult {
    const result = {
      sessions: outcome.sessions,
      failures: outcome.failures.map((f) => ({ targetName: f.node.targetName, portal: f.node.portal, error: f.error.toJSON() })),
    };
    const first = outcome.failures[0];
    if (first === undefined) return result;
    if (this.jsonEnabled()) this.logJson(result);
    for (const f of outcome.failures) process.stderr.write(`${loginFailureLine(f.node, f.error)}\n`);
    return this.exit(loginExitCode(first.error));
  }

  /** open-iscsi exits 21 when nothing matched; under --json the (empty) result still goes to stdout. */
  private noRecords(message: string, result: NodeResult): never {
    if (this.jsonEnabled()) this.logJson(result);
    else process.stderr.write(`iscsiadm: ${message}\n`);
    return this.exit(ExitCode.NoObjectsFound);
  }
}
