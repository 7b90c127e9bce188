import { ArgumentError } from '../errors.js';
import { loginAuthFrom } from '../login/auth.js';
import { isValidIscsiName } from '../iscsi-name.js';
import { discoverTargets } from '../net/discovery.js';
import { parsePortal } from '../portal.js';
import { RPC_PROTOCOL_VERSION } from '../rpc/contract.js';
import { findInOrder } from '../rpc/secret-rules.js';
import type { NodeRecord, SessionInfo } from '../rpc/types.js';
import { canonicalPortal, type NodeDatabase } from './node-db.js';
import type { RpcHandlers } from './rpc-methods.js';
import { discoverySecretRef, findSecret, type SecretRef, type SecretStore } from './secrets.js';
import type { SessionManager } from './session-manager.js';

export interface DaemonParts {
  readonly version: string;
  readonly db: NodeDatabase;
  readonly secrets: SecretStore;
  readonly sessions: SessionManager;
}

/**
 * A node's secret ({targetName, portal?, kind}), or with targetName '' a discovery portal's (docs/api.md). The portal
 * is canonical (host:port, host lower case) as the node database and discovery.sendTargets spell it: a discovery
 * secret stored for "10.0.0.5" is the one a discovery of "10.0.0.5" looks up under "10.0.0.5:3260".
 */
function secretRef(p: { targetName: string; portal?: string; kind: 'password' | 'password_in' }): SecretRef {
  const portal = p.portal === undefined ? undefined : canonicalPortal(p.portal);
  return p.targetName === '' ? discoverySecretRef(p.kind, portal) : { targetName: p.targetName, portal, kind: p.kind };
}

/**
 * CHAP is ready when the node asks for it (authmethod CHAP with a user name) and a secret is stored for it, the node's
 * own or its target's (the login's lookup order, secretLookupOrder). Only whether: the secret never leaves the store.
 */
async function chapConfigured(secrets: SecretStore, node: NodeRecord): Promise<boolean> {
  const s = node.settings;
  if (s['node.session.auth.authmethod']?.toUpperCase() !== 'CHAP' || (s['node.session.auth.username'] ?? '') === '') return false;
  const ref: SecretRef = { targetName: node.targetName, portal: node.portal, kind: 'password' };
  return (await findInOrder(ref, async (r) => ((await secrets.has(r)) ? true : undefined))) !== undefined;
}

/** iscsid's methods (docs/api.md, Methods); params arrive checked against the contract. */
export function rpcHandlers({ version, db, secrets, sessions }: DaemonParts): RpcHandlers {
  return {
    version: () => ({ name: 'iscsid', version, protocol: RPC_PROTOCOL_VERSION }),
    'initiator.get': () => db.initiator(),
    'initiator.set': (p) => {
      db.setInitiator(p.name, p.alias);
      return db.initiator();
    },
    'discovery.sendTargets': async (p) => {
      const portal = parsePortal(p.portal);
      const where = canonicalPortal(p.portal);
      // The discovery secret stored for this portal, else the default discovery secret.
      const secret = p.username === undefined ? undefined : await findSecret(secrets, discoverySecretRef('password', where));
      const targets = await discoverTargets({ portal, initiatorName: db.initiator().name, auth: loginAuthFrom({ user: p.username, secret }) });
      const recorded = db.upsertDiscovered(where, targets.map((t) => ({ targetName: t.targetName, portals: [...t.portals] })));
      return {
        targets: targets.map((t) => ({ targetName: t.targetName, portals: t.portals.map((x) => ({ address: x.host, port: x.port, portalGroupTag: x.portalGroupTag ?? 1 })) })),
        recorded: recorded.length,
      };
    },
    'nodes.list': (p) => db.list(p),
    'nodes.status': async (p) => {
      // Each node's newest session that is not over, else its newest (sids only grow).
      const sessionOf = new Map<string, SessionInfo>();
      const over = (s: SessionInfo) => s.state === 'failed' || s.state === 'logged-out';
      for (const s of sessions.list().sort((a, b) => Number(over(b)) - Number(over(a)) || a.sid - b.sid)) sessionOf.set(`${s.targetName}\u0000${s.portal}`, s);
      return Promise.all(
        db.list(p).map(async (node) => ({
          node,
          session: sessionOf.get(`${node.targetName}\u0000${node.portal}`) ?? null,
          chapConfigured: await chapConfigured(secrets, node),
        })),
      );
    },
    'nodes.get': (p) => {
      const node = db.get(p.targetName, p.portal);
      if (!node) throw new ArgumentError('ISCSI_NODE_NOT_FOUND', `no node ${p.targetName}${p.portal === undefined ? '' : ` at ${p.portal}`}`, { hint: 'run discovery first' });
      return node;
    },
    'nodes.update': (p) => db.update(p.targetName, p.portal, p.key, p.value),
    'nodes.delete': async (p) => {
      await secrets.deleteAll(p.targetName, p.portal);
      return { deleted: db.delete(p.targetName, p.portal) };
    },
    'secrets.set': async (p) => {
      // Issue 10: only an iSCSI name ('' for discovery) and a portal are keys; `../../etc/passwd` is neither.
      if (p.targetName !== '' && !isValidIscsiName(p.targetName)) {
        throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'secrets.set: targetName is not an iSCSI name (RFC 7143 §4.2.7), nor "" for discovery');
      }
      await secrets.set(secretRef(p), p.secret);
      return { stored: true };
    },
    'secrets.has': async (p) => ({ stored: await secrets.has(secretRef(p)) }),
    'secrets.reveal': async (p) => {
      const secret = await secrets.get(secretRef(p));
      if (secret === undefined) throw new ArgumentError('ISCSI_SECRET_NOT_FOUND', 'no secret stored for that node and kind');
      return { secret };
    },
    'sessions.login': (p) => sessions.login(p.targetName, p.portal),
    'sessions.logout': async (p) => {
      if ((p.all === true) === (p.sid !== undefined)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'sessions.logout takes exactly one of params.sid and params.all');
      // A session that could not log out within its logout_timeout was dropped: it is gone either way (docs/api.md).
      const options = { force: p.force === true };
      if (p.all === true) return { loggedOut: (await sessions.logoutAll(options)).length };
      await sessions.logout(p.sid!, options);
      return { loggedOut: 1 };
    },
    'sessions.list': () => sessions.list(),
    'sessions.get': (p) => sessions.get(p.sid),
    'sessions.stats': (p) => sessions.stats(p.sid),
    'sessions.rescan': async (p) => ({ luns: await sessions.rescan(p.sid) }),
    'events.subscribe': (_p, context) => {
      context.subscribe();
      return { subscribed: true };
    },
  };
}
