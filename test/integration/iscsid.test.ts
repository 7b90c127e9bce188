// iscsid as it runs: a real daemon process on a temp socket and state dir, against tgtd, driven over its JSON-RPC API.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../../core/src/rpc/index.js';
import { startIscsid, type IscsidInstance } from '../src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';

const PLAIN = 'iqn.2026-11.test.iscsid:plain';
const CHAP = 'iqn.2026-11.test.iscsid:chap';
const SECRET = 'iscsid-secret-never-logged';

let tgt: TgtdInstance;
let dir: string;
let socket: string;
let stateDir: string;
let secretsDir: string;
let daemon: IscsidInstance | undefined;
/** Every daemon this file starts, stopped or not: the secret check reads all their output. */
const daemons: IscsidInstance[] = [];

/** Each daemon logs at trace level, so the secret check covers every line it could ever write. */
async function start(options: { dir: string; args?: string[] }): Promise<IscsidInstance> {
  const d = await startIscsid({ dir: options.dir, args: ['--log-level', 'trace', ...(options.args ?? [])] });
  daemons.push(d);
  return d;
}

async function connect(): Promise<RpcClient> {
  return RpcClient.connect(socket);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'iscsid-'));
  chmodSync(dir, 0o711); // others may reach the socket file: its own 0660 mode is what keeps them out
  socket = path.join(dir, 'iscsid.sock');
  stateDir = path.join(dir, 'state');
  secretsDir = path.join(dir, 'secrets');
  mkdirSync(path.join(dir, 'group'));
  tgt = await startTgtd({ targets: [{ iqn: PLAIN }, { iqn: CHAP, chap: { incoming: [{ user: 'iscsid-user', secret: SECRET }] } }] });
  daemon = await start({ dir });
}, 30_000);

afterAll(async () => {
  if (daemon) await daemon.stop();
  await tgt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('iscsid against tgtd (issue 5)', () => {
  it('discovers and records nodes, logs in with CHAP (secret from the store) and without, two sessions at once', { timeout: 30_000 }, async () => {
    const c = await connect();
    try {
      expect(await c.call('version')).toMatchObject({ name: 'iscsid', protocol: 1 });
      const found = await c.call('discovery.sendTargets', { portal: tgt.portal });
      expect(found.recorded).toBe(2);
      expect((await c.call('nodes.list')).length).toBe(2);

      await c.call('nodes.update', { targetName: CHAP, key: 'node.session.auth.authmethod', value: 'CHAP' });
      await c.call('nodes.update', { targetName: CHAP, key: 'node.session.auth.username', value: 'iscsid-user' });
      await expect(c.call('nodes.update', { targetName: CHAP, key: 'node.session.auth.password', value: SECRET })).rejects.toMatchObject({ code: 'ISCSI_BAD_ARGUMENT' });
      await c.call('secrets.set', { targetName: CHAP, kind: 'password', secret: SECRET });
      // targetName '' names a discovery portal's secret (docs/api.md).
      await c.call('secrets.set', { targetName: '', portal: tgt.portal, kind: 'password', secret: 'discovery-secret-1' });
      expect(await c.call('secrets.has', { targetName: '', portal: tgt.portal, kind: 'password' })).toEqual({ stored: true });
      expect(await c.call('secrets.has', { targetName: CHAP, kind: 'password' })).toEqual({ stored: true });
      // Shown only on explicit request, and only to root (the caller here is root, known by its credentials).
      expect(await c.call('secrets.reveal', { targetName: CHAP, kind: 'password' })).toEqual({ secret: SECRET });

      const a = await c.call('sessions.login', { targetName: CHAP });
      const b = await c.call('sessions.login', { targetName: PLAIN });
      expect(a.state).toBe('logged-in');
      expect((await c.call('sessions.list')).length).toBe(2);
      expect(await tgt.connections(CHAP)).toBe(1);
      expect(await tgt.connections(PLAIN)).toBe(1);

      const detail = await c.call('sessions.get', { sid: a.sid });
      expect(detail.luns).toEqual([expect.objectContaining({ lun: 1, sizeBytes: String(64 << 20) })]);
      expect(detail.parameters.MaxRecvDataSegmentLength).toBe('262144');

      // Commands move the statistics (here a rescan: REPORT LUNS, INQUIRY, READ CAPACITY).
      const before = await c.call('sessions.stats', { sid: a.sid });
      await c.call('sessions.rescan', { sid: a.sid });
      const after = await c.call('sessions.stats', { sid: a.sid });
      expect(after.commands).toBeGreaterThan(before.commands);

      await c.call('sessions.logout', { sid: b.sid });
      expect(await tgt.connections(PLAIN)).toBe(0);
      // The code says it, not the text (issue 9: no caller parses human text); the CLI maps it to exit 15.
      await expect(c.call('sessions.login', { targetName: CHAP })).rejects.toMatchObject({ code: 'ISCSI_SESSION_EXISTS' });
      await expect(c.call('sessions.login', { targetName: 'iqn.2026-11.test.iscsid:none' })).rejects.toMatchObject({ code: 'ISCSI_NODE_NOT_FOUND' });
      await expect(c.call('nodes.get', { targetName: 'iqn.2026-11.test.iscsid:none' })).rejects.toMatchObject({ code: 'ISCSI_NODE_NOT_FOUND' });
      await expect(c.call('secrets.reveal', { targetName: PLAIN, kind: 'password_in' })).rejects.toMatchObject({ code: 'ISCSI_SECRET_NOT_FOUND' });
    } finally {
      c.close();
    }
  });

  it('notifications: a subscriber sees session.stats of its session and each state transition once (docs/api.md)', { timeout: 20_000 }, async () => {
    const c = await connect();
    try {
      const states: Array<{ sid: number; state: string }> = [];
      const statsOf = new Set<number>();
      let statsSeen: () => void = () => {};
      c.onNotification((n) => {
        if (n.method === 'session.stateChanged') states.push({ sid: n.params.sid, state: n.params.state });
        if (n.method === 'session.stats') {
          statsOf.add(n.params.sid);
          statsSeen();
        }
      });
      await c.call('events.subscribe');
      const s = await c.call('sessions.login', { targetName: PLAIN });
      // "every 2 s for each live session": wait for this session's first one, however long the load makes it.
      await new Promise<void>((resolve) => {
        statsSeen = () => statsOf.has(s.sid) && resolve();
        statsSeen();
      });
      await c.call('sessions.logout', { sid: s.sid });
      // The daemon writes a method's notifications before its answer, on this one socket: all of them are here now.
      // Issue 9: `session watch` showed each logout twice, because the daemon sent it twice.
      expect(states.filter((e) => e.sid === s.sid)).toEqual([
        { sid: s.sid, state: 'logged-in' },
        { sid: s.sid, state: 'logged-out' },
      ]);
    } finally {
      c.close();
    }
  });

  it('bad RPC calls get JSON-RPC errors and the daemon keeps its sessions', async () => {
    const c = await connect();
    try {
      await expect(c.callUnchecked('sessions.get', { sid: 'one' })).rejects.toMatchObject({ rpcCode: -32602, code: 'ISCSI_BAD_ARGUMENT' });
      await expect(c.callUnchecked('sessions.get', { sid: 1, extra: true })).rejects.toMatchObject({ rpcCode: -32602, code: 'ISCSI_BAD_ARGUMENT' });
      await expect(c.callUnchecked('sessions.logout', { sid: 1, all: true })).rejects.toMatchObject({ rpcCode: -32602, code: 'ISCSI_BAD_ARGUMENT' });
      await expect(c.call('sessions.get', { sid: 999 })).rejects.toMatchObject({ code: 'ISCSI_SESSION_NOT_FOUND' });
      await expect(c.callUnchecked('no.such.method')).rejects.toMatchObject({ rpcCode: -32601 });
      expect((await c.call('sessions.list')).length).toBe(1); // the CHAP session from the first test
    } finally {
      c.close();
    }
  });

  it('SIGTERM logs every session out (the target sees none); a restart logs automatic nodes in again', { timeout: 40_000 }, async () => {
    let c = await connect();
    await c.call('nodes.update', { targetName: PLAIN, key: 'node.startup', value: 'automatic' });
    c.close();
    expect(await tgt.connections(CHAP)).toBe(1);
    expect(await daemon!.stop()).toBe(0);
    expect(await tgt.connections(CHAP)).toBe(0);
    daemon = await start({ dir });
    c = await connect();
    try {
      // Event-driven: look at the list once subscribed, and again at each session that logs in, until it is there.
      const list = await new Promise<Array<{ targetName: string; state: string }>>((resolve, reject) => {
        const look = (): void => {
          c.call('sessions.list').then((l) => {
            if (l.some((s) => s.targetName === PLAIN && s.state === 'logged-in')) resolve(l);
          }, reject);
        };
        c.onNotification((n) => n.method === 'session.stateChanged' && n.params.state === 'logged-in' && look());
        c.call('events.subscribe').then(look, reject);
      });
      expect(list.map((s) => s.targetName)).toEqual([PLAIN]); // automatic only; the CHAP node is manual
      expect(await tgt.connections(PLAIN)).toBe(1);
    } finally {
      c.close();
    }
  });

  it('fuzzed lines on the socket: each answered or the connection closed; the daemon stays up with its sessions', { timeout: 20_000 }, async () => {
    const net = await import('node:net');
    const junk = ['{', '[]', '{"jsonrpc":"2.0","id":1,"method":"sessions.login","params":[1,2]}', '\u0000\u0001', 'x'.repeat(70_000), '{"jsonrpc":"1.0"}'];
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(socket);
        s.on('error', () => resolve());
        s.on('connect', () => {
          s.write(`${junk[i % junk.length]}${i % 2 ? '\n' : ''}`);
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 20);
        });
      });
    }
    const c = await connect();
    try {
      const list = await c.call('sessions.list');
      expect(list.map((s) => s.targetName)).toEqual([PLAIN]); // the automatic node's session, before and after
      expect(list.every((x) => x.state === 'logged-in')).toBe(true);
    } finally {
      c.close();
    }
  });

  it('access (docs/security.md): not in the socket\'s group → cannot connect; in it (nobody) → may read, not change; root → may change', { timeout: 30_000 }, async () => {
    const { execFileSync } = await import('node:child_process');
    // A client run as nobody/nogroup (fixtures/rpc-probe.cjs): `version`, then a mutating call.
    const probe = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rpc-probe.cjs');
    const asNobody = (socketPath: string) =>
      JSON.parse(execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, probe, socketPath], { encoding: 'utf8', timeout: 10_000 }));
    // The daemon above: socket root:root 0660, so nobody cannot even connect.
    expect(asNobody(socket)).toEqual({ connect: 'EACCES' });

    // A daemon whose socket group is nogroup, with no --trust-socket-group: the peer's credentials decide.
    const grouped = await start({ dir: path.join(dir, 'group'), args: ['--group', '65534'] });
    const groupSocket = grouped.socket;
    try {
      const replies = asNobody(groupSocket) as Array<{ id: number; result?: unknown; error?: { code: number; data?: { code: string } } }>;
      const byId = new Map(replies.map((r) => [r.id, r]));
      expect(byId.get(1)?.result).toMatchObject({ name: 'iscsid', protocol: 1 }); // reading is open to the group
      expect(byId.get(2)?.error).toMatchObject({ code: -32001, data: { code: 'ISCSI_NOT_PERMITTED' } }); // changing is not
      expect(byId.get(3)?.error).toMatchObject({ code: -32001, data: { code: 'ISCSI_NOT_PERMITTED' } }); // nor seeing a secret
      const root = await RpcClient.connect(groupSocket);
      try {
        const found = await root.call('discovery.sendTargets', { portal: tgt.portal });
        expect(found.recorded).toBe(2); // root, known by its credentials, may change state
      } finally {
        root.close();
      }
    } finally {
      await grouped.stop();
    }
  });

  it('after all that, the secret appears nowhere in the state dir or any daemon\'s logs (trace level); the secrets file is 0600', () => {
    const files = readdirSync(stateDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(path.join(f.parentPath, f.name), 'utf8')).not.toContain(SECRET);
    // The first daemon stored the secret and logged in with it; the restarted one and the grouped one ran after.
    expect(daemons).toHaveLength(3);
    expect(daemons[0]!.output()).toMatch(/session state/); // its logs were captured: a login with the secret is in them
    for (const d of daemons) expect(d.output()).not.toContain(SECRET);
    for (const d of daemons) expect(d.output()).not.toContain('discovery-secret-1');
    const secretFile = readdirSync(secretsDir).find((n) => n.endsWith('.json'))!;
    expect(statSync(path.join(secretsDir, secretFile)).mode & 0o777).toBe(0o600);
  });
});
