// Issue 13, Tests: "The extension's data and action layer runs against a real iscsid and tgtd: list, discover, log in,
// log out, toggle automatic, set a secret (and check that it is stored, not echoed), daemon absent, session dropped."
// src/lib/daemon.ts is driven exactly as the views drive it, over a real iscsid process on a temp socket, against tgtd.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RpcClient } from '@iscsi-initiator/core/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIscsid, type IscsidInstance } from '../../../test/src/iscsid.js';
import { startTgtd, type TgtdInstance } from '../../../test/src/tgtd.js';
import { DaemonUnavailableError, openDaemon, type Daemon } from '../../src/lib/daemon';
import type { PortalGroup, SessionRow } from '../../src/lib/model';
import { describeError, menuBarStatus } from '../../src/lib/status';

const PLAIN = 'iqn.2026-12.test.raycast:plain';
const CHAP = 'iqn.2026-12.test.raycast:chap';
const DROP = 'iqn.2026-12.test.raycast:drop';
const CHAP_USER = 'raycast-user';
const CHAP_SECRET = 'raycast-chap-secret-never-echoed';
const DISCOVERY_SECRET = 'raycast-discovery-secret-never-echoed';

let tgt: TgtdInstance;
let iscsid: IscsidInstance;
let dir: string;
let daemon: Daemon;

/** Resolves once `check` passes, looking again at each change the daemon reports (no polling, no sleeps). */
function until<T>(d: Daemon, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    let busy = false;
    let again = false;
    let stop: () => void = () => {};
    const look = (): void => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      read().then(
        (value) => {
          busy = false;
          if (check(value)) {
            stop();
            resolve(value);
          } else if (again) {
            again = false;
            look();
          }
        },
        (e: unknown) => {
          stop();
          reject(e);
        },
      );
    };
    stop = d.onChange(look);
    look();
  });
}

const rowOf = (rows: SessionRow[], target: string) => rows.find((r) => r.session.targetName === target);
const nodeOf = (groups: PortalGroup[], target: string) =>
  groups.flatMap((g) => g.nodes).find((n) => n.node.targetName === target);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rc-data-'));
  tgt = await startTgtd({
    targets: [
      { iqn: PLAIN },
      { iqn: CHAP, chap: { incoming: [{ user: CHAP_USER, secret: CHAP_SECRET }] } },
      { iqn: DROP },
    ],
  });
  // Trace level: the secret check below covers every line the daemon could write.
  mkdirSync(path.join(dir, 'main'));
  iscsid = await startIscsid({ dir: path.join(dir, 'main'), args: ['--log-level', 'trace'] });
  daemon = await openDaemon(iscsid.socket);
}, 30_000);

afterAll(async () => {
  daemon?.close();
  await iscsid?.stop();
  await tgt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the data layer against iscsid and tgtd (issue 13)', () => {
  it('daemon absent: no socket → not-running; a stale socket → refused; one clear problem with a hint, no stack', async () => {
    const missing = path.join(dir, 'nothing-here.sock');
    const absent = await openDaemon(missing).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(absent).toBeInstanceOf(DaemonUnavailableError);
    const problem = (absent as DaemonUnavailableError).problem;
    expect(problem).toMatchObject({ kind: 'not-running', socketPath: missing });
    expect(problem.hint).toContain('iscsid');
    expect(describeError(absent)).toBe(problem.message);
    expect(describeError(absent)).not.toMatch(/\n\s+at /);

    // A socket file nobody listens on (the daemon was killed): a listener killed with SIGKILL leaves its file behind.
    const stale = path.join(dir, 'stale.sock');
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => child.once('exit', resolve));
    const refused = await openDaemon(stale).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((refused as DaemonUnavailableError).problem).toMatchObject({ kind: 'refused', socketPath: stale });
  });

  it('a daemon of another protocol → incompatible (a fake server: such a daemon cannot exist here)', async () => {
    const socket = path.join(dir, 'other.sock');
    // docs/api.md, Versioning: "a client must refuse to go on … when it is not a protocol it knows".
    const server = net.createServer((c) =>
      c.on('data', (line) => {
        const { id } = JSON.parse(String(line).split('\n')[0]!) as { id: number };
        c.write(
          `${JSON.stringify({ jsonrpc: '2.0', id, result: { name: 'iscsid', version: '9.0.0', protocol: 99 } })}\n`,
        );
      }),
    );
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const e = await openDaemon(socket).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((e as DaemonUnavailableError).problem).toMatchObject({ kind: 'incompatible', socketPath: socket });
      expect((e as DaemonUnavailableError).problem.message).toContain('protocol 99');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it(
    'discover (with discovery CHAP: the secret is stored under the canonical portal) and list the nodes by portal',
    { timeout: 30_000 },
    async () => {
      // A portal spelt with its tag: the daemon keeps secrets under "host:port" (docs/api.md, secrets.set), so the
      // discovery finds the secret just stored and offers CHAP; this tgtd has no discovery account and refuses it.
      const refused = await daemon
        .discover(`${tgt.portal},1`, { username: 'discovery-user', secret: DISCOVERY_SECRET })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
      expect(describeError(refused)).toMatch(/CHAP credentials/);
      const found = await daemon.discover(tgt.portal);
      expect(found.map((t) => t.targetName).sort()).toEqual([CHAP, DROP, PLAIN]);
      const raw = await RpcClient.connect(iscsid.socket);
      try {
        expect(await raw.call('secrets.has', { targetName: '', portal: tgt.portal, kind: 'password' })).toEqual({
          stored: true,
        });
      } finally {
        raw.close();
      }

      const groups = await daemon.nodeGroups();
      expect(groups.map((g) => g.portal)).toEqual([tgt.portal]);
      expect(groups[0]!.nodes.map((n) => n.node.targetName)).toEqual([CHAP, DROP, PLAIN]);
      expect(groups[0]!.nodes.every((n) => !n.automatic && !n.chapConfigured && n.session === null)).toBe(true);
      // No automatic node yet: the menu-bar icon is idle.
      expect(menuBarStatus(groups)).toBe('idle');
    },
  );

  it(
    'log in: the session row has its LUN (size, vendor), no disk without the HBA, and live throughput after two stats',
    { timeout: 30_000 },
    async () => {
      const session = await daemon.login(PLAIN, tgt.portal);
      expect(session).toMatchObject({ targetName: PLAIN, portal: tgt.portal, state: 'logged-in' });
      const rows = await daemon.sessionRows();
      const row = rowOf(rows, PLAIN)!;
      expect(row.luns).toEqual([
        expect.objectContaining({
          lun: expect.objectContaining({ lun: 1, sizeBytes: String(64 << 20) }),
          disk: null,
          mountPoints: [],
        }),
      ]);
      expect(row.luns[0]!.lun.vendor).not.toBe('');
      // session.stats arrives every 2 s per live session (docs/api.md): after two, a rate in bytes/s.
      const live = await until(
        daemon,
        () => daemon.sessionRows(),
        (r) => rowOf(r, PLAIN)?.readBps !== null && rowOf(r, PLAIN)?.writeBps !== null,
      );
      expect(rowOf(live, PLAIN)!.readBps).toBeGreaterThanOrEqual(0);
      expect(nodeOf(await daemon.nodeGroups(), PLAIN)!.session).toMatchObject({ sid: session.sid, state: 'logged-in' });
    },
  );

  it('rescan and details: what `session -P 3` shows, as markdown', async () => {
    const sid = rowOf(await daemon.sessionRows(), PLAIN)!.session.sid;
    expect((await daemon.rescan(sid)).map((l) => l.lun)).toEqual([1]);
    const md = await daemon.detailsMarkdown(sid);
    expect(md).toContain(`# ${PLAIN}`);
    expect(md).toContain('MaxRecvDataSegmentLength');
    expect(md).toContain('Logout Timeout');
    expect(md).toContain('### LUN 1');
    expect(md).toContain('64 MiB');
  });

  it('toggle automatic: the menu-bar status follows (all up, some down)', async () => {
    await daemon.setAutomatic(PLAIN, tgt.portal, true);
    let groups = await daemon.nodeGroups();
    expect(nodeOf(groups, PLAIN)!.automatic).toBe(true);
    expect(menuBarStatus(groups)).toBe('all-up');
    await daemon.setAutomatic(CHAP, tgt.portal, true);
    groups = await daemon.nodeGroups();
    expect(menuBarStatus(groups)).toBe('some-down');
    await daemon.setAutomatic(CHAP, tgt.portal, false);
    expect(nodeOf(await daemon.nodeGroups(), CHAP)!.automatic).toBe(false);
    await daemon.setAutomatic(CHAP, tgt.portal, true);
  });

  it(
    'set CHAP: the secret is stored (secrets.has), never echoed in a response; Connect All Automatic logs in with it',
    { timeout: 30_000 },
    async () => {
      const before = await daemon.loginAllAutomatic().catch((e: unknown) => e);
      // Without credentials the CHAP target refuses: one named failure, PLAIN (already up) not retried.
      expect(before).toMatchObject({
        succeeded: 0,
        failed: [expect.objectContaining({ name: `${CHAP} at ${tgt.portal}` })],
      });

      await daemon.setChap(CHAP, tgt.portal, { username: CHAP_USER, secret: CHAP_SECRET });
      const raw = await RpcClient.connect(iscsid.socket);
      try {
        expect(await raw.call('secrets.has', { targetName: CHAP, portal: tgt.portal, kind: 'password' })).toEqual({
          stored: true,
        });
        const groups = await daemon.nodeGroups();
        expect(nodeOf(groups, CHAP)).toMatchObject({
          chapConfigured: true,
          node: { settings: expect.objectContaining({ 'node.session.auth.username': CHAP_USER }) },
        });

        const outcome = await daemon.loginAllAutomatic();
        expect(outcome).toEqual({ succeeded: 1, failed: [] });
        const rows = await daemon.sessionRows();
        expect(rowOf(rows, CHAP)!.session.state).toBe('logged-in');
        expect(menuBarStatus(await daemon.nodeGroups())).toBe('all-up');

        // Every read the views make, and the daemon's own answers, without the secret (docs/api.md, secrets.set).
        const sid = rowOf(rows, CHAP)!.session.sid;
        const everything = JSON.stringify([
          await daemon.nodeGroups(),
          await daemon.sessionRows(),
          await daemon.detailsMarkdown(sid),
          await raw.call('nodes.list'),
          await raw.call('nodes.get', { targetName: CHAP, portal: tgt.portal }),
          await raw.call('sessions.get', { sid }),
        ]);
        for (const secret of [CHAP_SECRET, DISCOVERY_SECRET]) expect(everything).not.toContain(secret);
      } finally {
        raw.close();
      }
    },
  );

  it('log out one, then Disconnect All: each counted, no session left', { timeout: 30_000 }, async () => {
    const plain = rowOf(await daemon.sessionRows(), PLAIN)!.session.sid;
    await daemon.logout(plain);
    const rows = await daemon.sessionRows();
    expect(rows.filter((r) => r.session.state !== 'logged-out').map((r) => r.session.targetName)).toEqual([CHAP]);
    expect(await daemon.logoutAll()).toEqual({ succeeded: 1, failed: [] });
    expect((await daemon.sessionRows()).filter((r) => r.session.state !== 'logged-out')).toEqual([]);
    expect(menuBarStatus(await daemon.nodeGroups())).toBe('some-down');
    expect(await tgt.connections(PLAIN)).toBe(0);
    expect(await tgt.connections(CHAP)).toBe(0);
  });

  it('delete a node: gone from the list, its secret gone from the store', async () => {
    await daemon.deleteNode(CHAP, tgt.portal);
    expect(nodeOf(await daemon.nodeGroups(), CHAP)).toBeUndefined();
    const raw = await RpcClient.connect(iscsid.socket);
    try {
      expect(await raw.call('secrets.has', { targetName: CHAP, portal: tgt.portal, kind: 'password' })).toEqual({
        stored: false,
      });
    } finally {
      raw.close();
    }
  });

  it(
    'the daemon stopping while a view is open: onChange fires, and the next read is the not-running problem',
    { timeout: 30_000 },
    async () => {
      mkdirSync(path.join(dir, 'other'));
      const other = await startIscsid({ dir: path.join(dir, 'other') });
      const d = await openDaemon(other.socket);
      try {
        const changed = new Promise<void>((resolve) => d.onChange(resolve));
        await d.sessionRows();
        expect(await other.stop()).toBe(0);
        await changed;
        const e = await d.sessionRows().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(DaemonUnavailableError);
        expect((e as DaemonUnavailableError).problem.kind).toBe('not-running');
      } finally {
        d.close();
      }
    },
  );

  it(
    'session dropped (tgtd killed): onChange fires, the row shows it recovering, the menu bar says so; log out ends it',
    { timeout: 40_000 },
    async () => {
      await daemon.setAutomatic(PLAIN, tgt.portal, false);
      await daemon.setAutomatic(DROP, tgt.portal, true);
      const session = await daemon.login(DROP, tgt.portal);
      expect(menuBarStatus(await daemon.nodeGroups())).toBe('all-up');

      // RFC 7143 §6.3 (ERL 0): the connection is lost, the daemon keeps the session and reconnects; the view hears it.
      const recovering = until(
        daemon,
        () => daemon.sessionRows(),
        (r) => rowOf(r, DROP)?.session.state === 'recovering',
      );
      await tgt.stop();
      expect(rowOf(await recovering, DROP)!.session.reason).not.toBe('');
      // Reconnect attempts pass through logging-in: either way it is on its way back, not down.
      expect(menuBarStatus(await daemon.nodeGroups())).toBe('recovering');

      // docs/api.md, sessions.logout: a session whose connection is lost stops recovering and ends.
      await daemon.logout(session.sid);
      const rows = await daemon.sessionRows();
      expect(['failed', 'logged-out']).toContain(rowOf(rows, DROP)?.session.state ?? 'logged-out');
      expect(menuBarStatus(await daemon.nodeGroups())).toBe('some-down');
    },
  );

  it("the secrets never reached the daemon's log", () => {
    const log = iscsid.output();
    expect(log.length).toBeGreaterThan(0);
    for (const secret of [CHAP_SECRET, DISCOVERY_SECRET]) expect(log).not.toContain(secret);
  });
});
