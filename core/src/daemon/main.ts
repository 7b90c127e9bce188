// iscsid: the daemon that owns every session and serves the JSON-RPC API (docs/api.md) on a Unix socket.
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { watchHost } from '@iscsi-initiator/native';
import { DEFAULT_SOCKET_PATH } from '../defaults.js';
import { ArgumentError } from '../errors.js';
import { IscsiError } from '../errors.js';
import { defaultDaemonPaths, SOCKET_ENV, STATE_DIR_ENV } from '../platform-paths.js';
import { executableAsset, inSingleExecutable } from '../single-executable.js';
import { DaemonHba, HBA_KINDS, type HbaKind } from './hba-attachment.js';
import { wireHost, type HostWiring } from './host-wiring.js';
import { acquireInstanceLock } from './instance-lock.js';
import { NodeDatabase } from './node-db.js';
import { socketPeerCredentials } from './peer-credentials.js';
import { rpcHandlers } from './rpc-handlers.js';
import { registerMethods } from './rpc-methods.js';
import { RpcServer } from './rpc-server.js';
import { openSecretStore } from './secrets.js';
import { SessionManager } from './session-manager.js';
import { usage } from './usage.js';
import type { DiskVolumes } from './volumes/disk-volumes.js';
import { NbdExportVolumes } from './volumes/nbd-export-volumes.js';

const STATS_INTERVAL_MS = 2_000;

// A single executable carries core's package.json as an asset (installer/sea); a checkout reads it from disk.
const packageJson = executableAsset('package.json') ?? readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8');
const version = (JSON.parse(packageJson) as { version: string }).version;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      'state-dir': { type: 'string' },
      'secrets-dir': { type: 'string' },
      'log-file': { type: 'string' },
      group: { type: 'string' },
      'trust-socket-group': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      hba: { type: 'string' },
      'hba-socket': { type: 'string' },
      'hba-sim': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage());
    return;
  }
  const paths = defaultDaemonPaths();
  const socketPath = values.socket ?? process.env[SOCKET_ENV] ?? DEFAULT_SOCKET_PATH;
  const stateDir = values['state-dir'] ?? process.env[STATE_DIR_ENV] ?? paths.stateDir;
  // Where there is no Keychain, secrets go to a root-only file in a directory of their own, never the state dir.
  const secretsDir = values['secrets-dir'] ?? paths.secretsDir;
  // Structured JSON lines for launchd and log collectors; readable lines when a person runs it on a terminal.
  const logFile = values['log-file'] !== undefined ? pino.destination({ dest: values['log-file'], mkdir: true, append: true, sync: true }) : undefined;
  // pino-pretty in a worker needs its file on disk; a single executable has none, so it pretty-prints in-process.
  const pretty = async () => (inSingleExecutable() ? (await import('pino-pretty')).default() : pino.transport({ target: 'pino-pretty' }));
  const destination = logFile ?? (process.stdout.isTTY ? await pretty() : undefined);
  const log = pino({ name: 'iscsid', level: values['log-level'] }, destination);
  // The node database's writer (conf → atomically → when-exit) hooks every signal at import and raises it again after
  // its clean-up: a SIGHUP raised again killed the daemon, a SIGTERM raised again looked like a second one. Its
  // clean-up also runs at 'exit', which every way out of iscsid reaches; these three signals are iscsid's alone.
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.removeAllListeners(signal);
  // SIGHUP's default action kills the process (a stale socket, sessions dropped without a logout). iscsid reads its
  // configuration only at start, so a hangup reloads nothing: it reopens the log file (after log rotation) and says so.
  process.on('SIGHUP', () => {
    logFile?.reopen();
    log.info({ signal: 'SIGHUP' }, logFile ? 'log file reopened' : 'SIGHUP ignored: nothing to reload');
  });

  // One daemon per state folder (instance-lock.ts): taken before anything in it is read or written, held until exit.
  acquireInstanceLock(stateDir);
  // The HBA (issue 12): the dext by default on macOS, none elsewhere; the simulator's socket in the state folder.
  const hbaKind = values.hba ?? (process.platform === 'darwin' ? 'dext' : 'none');
  if (!HBA_KINDS.includes(hbaKind as HbaKind)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `--hba ${hbaKind}: expected ${HBA_KINDS.join(', ')}`);
  const hbaLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => log[level](fields ?? {}, message);
  const hba = await DaemonHba.attach({
    kind: hbaKind as HbaKind,
    socketPath: values['hba-socket'] ?? path.join(stateDir, 'hba.sock'),
    nbdDir: path.join(stateDir, 'nbd'),
    simBinary: values['hba-sim'],
    log: hbaLog,
  });
  // The volumes on the HBA's disks, let go before a logout (issue 12): DiskArbitration's on macOS, with sleep, wake and
  // network changes from the same watch; under the simulator on Linux, whatever uses its NBD exports.
  let host: HostWiring | undefined;
  // The watch starts before the session manager exists (the volumes seam is one of its parts): an event that arrives
  // meanwhile (a network change settling during the secret store's opening) sees no sessions, not a ReferenceError.
  const started: { sessions?: SessionManager } = {};
  if (process.platform === 'darwin') {
    try {
      host = wireHost({ watchHost, sessions: () => started.sessions?.liveSessions() ?? [], log: hbaLog });
    } catch (e) {
      log.error({ error: errorText(e) }, 'cannot watch the Mac (disks, sleep, network): volumes are not unmounted before a logout');
    }
  }
  const volumes: DiskVolumes | undefined =
    hba?.simulated && process.platform === 'linux' ? new NbdExportVolumes({ exportSocket: (targetId, lun) => hba.exportSocket(targetId, lun) }) : hba ? host?.volumes : undefined;
  const db = new NodeDatabase({ stateDir, log: (level, message, fields) => log[level](fields ?? {}, message) });
  const secrets = await openSecretStore({ stateDir: secretsDir });
  const server = new RpcServer({
    // Changes need root, known from the peer's credentials (native getpeereid / SO_PEERCRED). If they cannot be read
    // (the addon is missing), changes are refused unless the operator trusts the socket's permissions instead.
    peerCredentials: socketPeerCredentials,
    authorize: (peer) => (peer ? peer.uid === 0 : values['trust-socket-group']),
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  // "Every state transition" once (docs/api.md): a logout is reported both by the session as it ends and by the
  // manager as it forgets it, so a repeat of a session's last state and reason is not a transition and is not sent.
  const lastState = new Map<number, string>();
  const sessions = new SessionManager(db, secrets, {
    stateChanged: (event) => {
      const key = `${event.state} ${event.reason}`;
      if (lastState.get(event.sid) === key) return;
      lastState.set(event.sid, key);
      log.info(event, 'session state');
      server.notify('session.stateChanged', event);
    },
    lunsChanged: (event) => server.notify('session.lunsChanged', event),
    hbaError: (event) => log.error(event, 'HBA target of a session'),
    ended: (o) => {
      const fields = { sid: o.sid, target: o.targetName, portal: o.portal, reason: o.reason };
      if (o.clean) log.info(fields, 'session logged out');
      else log.warn(fields, 'session dropped without a clean logout');
    },
    volumesReleased: (event) => log.info(event, 'volumes let go before the logout'),
    volumesLeftInUse: (event) => log.error(event, 'VOLUMES STILL IN USE: the disk is taken away under them'),
  }, hba, volumes);
  started.sessions = sessions;

  // session.stats to subscribers, every 2 s for each live session (docs/api.md).
  const statsTimer = setInterval(() => {
    const live = new Set(sessions.list().map((s) => s.sid));
    for (const sid of lastState.keys()) if (!live.has(sid)) lastState.delete(sid); // sids are never reused
    for (const s of sessions.list()) {
      try {
        server.notify('session.stats', { ...sessions.stats(s.sid) });
      } catch {
        // a session that just went away
      }
    }
  }, STATS_INTERVAL_MS);

  // SIGTERM / SIGINT (docs/security.md, Signals and shutdown): every session logs out in parallel, each within its
  // node's logout_timeout, recovery stopped first; what cannot is dropped and named in the log. A second signal
  // exits at once.
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, `second ${signal}: exiting now, without waiting for the logouts`);
      void server.close(); // synchronously unlinks the socket file
      process.exit(128 + (osConstants.signals[signal] ?? 0));
    }
    stopping = true;
    log.info({ signal, sessions: sessions.list().length }, 'logging out every session');
    clearInterval(statsTimer);
    const outcomes = await sessions.shutdown();
    host?.close();
    await hba?.close();
    await server.close();
    log.info({ sessions: outcomes.length, dropped: outcomes.filter((o) => !o.clean).length }, 'iscsid stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  registerMethods(server, rpcHandlers({ version, db, secrets, sessions }));

  await server.listen(socketPath, values.group === undefined ? {} : { gid: Number(values.group) });
  log.info({ socket: socketPath, stateDir, initiator: db.initiator().name, secrets: secrets.backend }, 'iscsid listening');
  if (hba) log.info({ hba: hbaKind }, 'HBA attached');

  // Nodes marked node.startup=automatic log in at start; a failure is logged, never fatal to the daemon.
  for (const node of db.list()) {
    if (node.settings['node.startup'] !== 'automatic') continue;
    sessions.login(node.targetName, node.portal).catch((e: unknown) => log.warn({ target: node.targetName, portal: node.portal, error: errorText(e) }, 'automatic login failed'));
  }
}

function errorText(e: unknown): string {
  return e instanceof IscsiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

main().catch((e: unknown) => {
  process.stderr.write(`iscsid: ${errorText(e)}${e instanceof IscsiError && e.hint ? ` (${e.hint})` : ''}\n`);
  process.exit(1);
});
