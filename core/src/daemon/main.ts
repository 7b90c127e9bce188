// iscsid: the daemon that owns every session and serves the JSON-RPC API (docs/api.md) on a Unix socket.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_SOCKET_PATH as DEFAULT_SOCKET } from '../defaults.js';
import { ArgumentError, IscsiError } from '../errors.js';
import { loginAuthFrom } from '../login/auth.js';
import { discoverTargets } from '../net/discovery.js';
import { formatPortal, parsePortal } from '../portal.js';
import { NodeDatabase } from './node-db.js';
import { socketPeerCredentials } from './peer-credentials.js';
import { isObjectParams, RPC_PROTOCOL_VERSION, RpcServer } from './rpc-server.js';
import { discoverySecretRef, openSecretStore, type SecretKind, type SecretRef } from './secrets.js';
import { SessionManager } from './session-manager.js';

const DEFAULT_STATE_DIR = process.platform === 'darwin' ? '/Library/Application Support/iscsi-initiator' : '/var/lib/iscsi-initiator';
const DEFAULT_SECRETS_DIR = process.platform === 'darwin' ? '/Library/Application Support/iscsi-initiator/secrets' : '/etc/iscsi-initiator/secrets';
const STATS_INTERVAL_MS = 2_000;

const version = (JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8')) as { version: string }).version;

function str(params: unknown, key: string, optional = false): string | undefined {
  const value = isObjectParams(params as never) ? (params as Record<string, unknown>)[key] : undefined;
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || (value === '' && !optional)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `params.${key} must be a non-empty string`);
  return value;
}

function int(params: unknown, key: string): number {
  const value = isObjectParams(params as never) ? (params as Record<string, unknown>)[key] : undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `params.${key} must be a positive integer`);
  return value;
}

/** A node's secret ({targetName, portal?, kind}), or with targetName '' a discovery portal's (docs/api.md). */
function secretRef(params: unknown): SecretRef {
  const targetName = str(params, 'targetName', true) ?? '';
  const portal = str(params, 'portal', true);
  const k = kind(params);
  return targetName === '' ? discoverySecretRef(k === 'password' ? 'password' : 'password_in', portal) : { targetName, portal, kind: k };
}

function kind(params: unknown): SecretKind {
  const k = str(params, 'kind');
  if (k !== 'password' && k !== 'password_in') throw new ArgumentError('ISCSI_BAD_ARGUMENT', "params.kind must be 'password' or 'password_in'");
  return k;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      'state-dir': { type: 'string' },
      'secrets-dir': { type: 'string' },
      group: { type: 'string' },
      'trust-socket-group': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`usage: iscsid [--socket PATH] [--state-dir DIR] [--group GID] [--trust-socket-group] [--log-level LEVEL]
  --socket              JSON-RPC socket (default ${DEFAULT_SOCKET}, or $ISCSID_SOCKET)
  --state-dir           node database (default ${DEFAULT_STATE_DIR})
  --secrets-dir         CHAP secrets where there is no Keychain: a 0600 file (default ${DEFAULT_SECRETS_DIR})
  --group               numeric group that may use the socket (mode 0660)
  --trust-socket-group  where peer credentials cannot be read, allow changes from anyone who can open the socket
`);
    return;
  }
  const socketPath = values.socket ?? process.env.ISCSID_SOCKET ?? DEFAULT_SOCKET;
  const stateDir = values['state-dir'] ?? DEFAULT_STATE_DIR;
  // Where there is no Keychain, secrets go to a root-only file in a directory of their own, never the state dir.
  const secretsDir = values['secrets-dir'] ?? DEFAULT_SECRETS_DIR;
  // Structured JSON lines for launchd and log collectors; readable lines when a person runs it on a terminal.
  const log = pino({ name: 'iscsid', level: values['log-level'] }, process.stdout.isTTY ? pino.transport({ target: 'pino-pretty' }) : undefined);

  const db = new NodeDatabase({ stateDir });
  const secrets = await openSecretStore({ stateDir: secretsDir });
  const server = new RpcServer({
    // Changes need root, known from the peer's credentials (native getpeereid / SO_PEERCRED). If they cannot be read
    // (the addon is missing), changes are refused unless the operator trusts the socket's permissions instead.
    peerCredentials: socketPeerCredentials,
    authorize: (peer) => (peer ? peer.uid === 0 : values['trust-socket-group']),
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  const sessions = new SessionManager(db, secrets, {
    stateChanged: (event) => {
      log.info(event, 'session state');
      server.notify('session.stateChanged', event);
    },
    lunsChanged: (event) => server.notify('session.lunsChanged', event),
  });

  server.addMethod('version', () => ({ name: 'iscsid', version, protocol: RPC_PROTOCOL_VERSION }));
  server.addMethod('initiator.get', () => db.initiator());
  server.addMethod('initiator.set', (p) => {
    db.setInitiator(str(p, 'name')!, str(p, 'alias', true));
    return db.initiator();
  }, { mutating: true });
  server.addMethod('discovery.sendTargets', async (p) => {
    const portal = parsePortal(str(p, 'portal')!);
    const where = formatPortal(portal);
    const username = str(p, 'username', true);
    // The discovery secret stored for this portal, else the default discovery secret (stored without a portal).
    const secret = username ? ((await secrets.get(discoverySecretRef('password', where))) ?? (await secrets.get(discoverySecretRef('password')))) : undefined;
    const targets = await discoverTargets({ portal, initiatorName: db.initiator().name, auth: loginAuthFrom({ user: username, secret }) });
    const recorded = db.upsertDiscovered(where, targets.map((t) => ({ targetName: t.targetName, portals: [...t.portals] })));
    return {
      targets: targets.map((t) => ({ targetName: t.targetName, portals: t.portals.map((x) => ({ address: x.host, port: x.port, portalGroupTag: x.portalGroupTag ?? 1 })) })),
      recorded: recorded.length,
    };
  }, { mutating: true });
  server.addMethod('nodes.list', (p) => db.list(isObjectParams(p) ? { targetName: str(p, 'targetName', true), portal: str(p, 'portal', true) } : {}));
  server.addMethod('nodes.get', (p) => {
    const node = db.get(str(p, 'targetName')!, str(p, 'portal', true));
    if (!node) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'no such node', { hint: 'run discovery first' });
    return node;
  });
  server.addMethod('nodes.update', (p) => db.update(str(p, 'targetName')!, str(p, 'portal', true), str(p, 'key')!, str(p, 'value', true) ?? ''), { mutating: true });
  server.addMethod('nodes.delete', async (p) => {
    const targetName = str(p, 'targetName')!;
    const portal = str(p, 'portal', true);
    await secrets.deleteAll(targetName, portal);
    return { deleted: db.delete(targetName, portal) };
  }, { mutating: true });
  server.addMethod('secrets.set', async (p) => {
    await secrets.set(secretRef(p), str(p, 'secret')!);
    return { stored: true };
  }, { mutating: true });
  server.addMethod('secrets.has', async (p) => ({ stored: await secrets.has(secretRef(p)) }));
  // The one way a secret leaves the store over RPC: on explicit request, to root only (docs/security.md).
  server.addMethod('secrets.reveal', async (p) => {
    const secret = await secrets.get(secretRef(p));
    if (secret === undefined) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'no secret stored for that node and kind');
    return { secret };
  }, { mutating: true });
  server.addMethod('sessions.login', (p) => sessions.login(str(p, 'targetName')!, str(p, 'portal', true)), { mutating: true });
  server.addMethod('sessions.logout', async (p) => {
    if (isObjectParams(p) && p.all === true) return { loggedOut: await sessions.logoutAll() };
    await sessions.logout(int(p, 'sid'));
    return { loggedOut: 1 };
  }, { mutating: true });
  server.addMethod('sessions.list', () => sessions.list());
  server.addMethod('sessions.get', (p) => sessions.get(int(p, 'sid')));
  server.addMethod('sessions.stats', (p) => sessions.stats(int(p, 'sid')));
  server.addMethod('sessions.rescan', async (p) => ({ luns: await sessions.rescan(int(p, 'sid')) }), { mutating: true });
  server.addMethod('events.subscribe', (_p, context) => {
    context.subscribe();
    return { subscribed: true };
  });

  await server.listen(socketPath, values.group === undefined ? {} : { gid: Number(values.group) });
  log.info({ socket: socketPath, stateDir, initiator: db.initiator().name, secrets: secrets.backend }, 'iscsid listening');

  const statsTimer = setInterval(() => {
    for (const s of sessions.list()) {
      try {
        server.notify('session.stats', { ...sessions.stats(s.sid) });
      } catch {
        // a session that just went away
      }
    }
  }, STATS_INTERVAL_MS);

  // Nodes marked node.startup=automatic log in at start; a failure is logged, never fatal to the daemon.
  for (const node of db.list()) {
    if (node.settings['node.startup'] !== 'automatic') continue;
    sessions.login(node.targetName, node.portal).catch((e: unknown) => log.warn({ target: node.targetName, portal: node.portal, error: errorText(e) }, 'automatic login failed'));
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'logging out every session');
    clearInterval(statsTimer);
    const count = await sessions.logoutAll();
    await server.close();
    log.info({ sessions: count }, 'iscsid stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function errorText(e: unknown): string {
  return e instanceof IscsiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

main().catch((e: unknown) => {
  process.stderr.write(`iscsid: ${errorText(e)}${e instanceof IscsiError && e.hint ? ` (${e.hint})` : ''}\n`);
  process.exit(1);
});
