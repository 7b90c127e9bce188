// Staying up against a real target: tgtd behind a fault-injecting proxy (cuts, blackholes, flipped bytes, refusals)
// and tgtd itself killed and restarted. Every workload here writes self-checking data and verifies what it reads.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loginAuthFrom,
  readCdb,
  IscsiSession,
  writeCdb,
  type SessionEvent,
  type SessionOptions,
} from '../../core/src/index.js';
import { FaultProxy } from '../src/fault-proxy.js';
import { startTgtd, type TgtdInstance } from '../src/tgtd.js';
import { until } from '../src/session-wait.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/bin/run.js');
const IQN = 'iqn.2026-11.test.recovery:disk';
// tgt's DefaultTime2Wait is 2 s; 0 lets the tests reconnect without waiting (the result is the larger of both sides).
const PARAMS = { DefaultTime2Wait: '0', MaxRecvDataSegmentLength: '65536', InitialR2T: 'No' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'recovery-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function options(proxy: FaultProxy, extra: Partial<SessionOptions> = {}): SessionOptions {
  return {
    portal: { host: proxy.host, port: proxy.port },
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:recovery-tgtd',
    targetName: IQN,
    proposal: { defaultTime2Wait: 0 },
    reconnectMinDelayMs: 50,
    reconnectMaxDelayMs: 1_000,
    loginTimeoutMs: 3_000,
    noopOutIntervalMs: 1_000,
    noopOutTimeoutMs: 1_000,
    ...extra,
  };
}


function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`condition not met within ${timeoutMs} ms`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

/** Writes `count` chunks of 64 KiB with `depth` in flight; returns what was acknowledged (chunk index → data). */
async function writeChunks(session: IscsiSession, count: number, depth: number, acknowledged: Map<number, Buffer>, firstChunk = 0): Promise<void> {
  let next = firstChunk;
  const end = firstChunk + count;
  const worker = async () => {
    while (next < end) {
      const chunk = next++;
      const data = randomBytes(65536);
      await session.command({ lun: 1, cdb: writeCdb({ lba: chunk * 128, blocks: 128 }), writeData: data });
      acknowledged.set(chunk, data); // only now is the write reported done
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
}

/** Every acknowledged write reads back exactly (RFC 7143 §7.1 ERL 0 re-issue: a write reported done is never lost). */
async function verify(session: IscsiSession, acknowledged: Map<number, Buffer>): Promise<void> {
  for (const [chunk, data] of acknowledged) {
    const back = await session.command({ lun: 1, cdb: readCdb({ lba: chunk * 128, blocks: 128 }), readLength: 65536 });
    expect(back.data.equals(data), `chunk ${chunk}`).toBe(true);
  }
}

describe('(a) soak: 60 s of lun bench --rw randrw --verify through a proxy that cuts the connection 20 times', () => {
  it('zero lost or corrupted blocks, and every cut recovered', { timeout: 150_000 }, async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 32 << 20 }], params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    try {
      const url = `iscsi://${proxy.portal}/${IQN}/1`;
      const run = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'lun', 'bench', url, '--rw', 'randrw', '--bs', '4k', '--qd', '8', '--time', '60', '--size', '16m',
          '--verify', '--json', '--replacement-timeout', '60', '--noop-interval', '2', '--noop-timeout', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 140_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
      // Let the prefill (--verify writes the region first) finish, then cut 20 times across the timed minute.
      await waitFor(() => proxy.stats.bytesToTarget > 16 << 20, 60_000);
      const cutting = proxy.cutRandomly({ count: 20, withinMs: 45_000, seed: 7, mode: 'rst' });
      const result = await run;
      await cutting; // all 20 happened while the bench ran (it would wait for a live connection otherwise)
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const r = JSON.parse(result.stdout);
      expect(r.verify.mismatches).toBe(0);
      expect(r.errors).toBe(0);
      expect(r.ios).toBeGreaterThan(1000);
      expect(proxy.stats.cuts, 'cuts made').toBe(20);
      // Every lost session came back (a cut that lands on a reconnect's own login kills an attempt, not a session,
      // so the failures can be fewer than the cuts); and nearly all cuts hit a working session.
      expect(r.recovery.reconnects, 'reconnects').toBe(r.recovery.connectionFailures);
      expect(r.recovery.connectionFailures, 'sessions lost').toBeGreaterThanOrEqual(15);
      expect(r.recovery.recoveryMs, 'time without a connection').toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await tgt.stop();
    }
  });
});

/** Runs the built CLI; killed after `killMs`. */
function cli(args: readonly string[], killMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('lun bench says when the session reconnected (issue 9: "errors 0" for a run that reconnected twice)', () => {
  it('text and --json report reconnects and the time spent without a connection', { timeout: 60_000 }, async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 << 20 }], params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    try {
      const url = `iscsi://${proxy.portal}/${IQN}/1`;
      const common = ['lun', 'bench', url, '--rw', 'randread', '--bs', '4k', '--qd', '4', '--time', '3', '--replacement-timeout', '30'];
      // Two cuts, each once 1 MiB more has reached us: both land while the timed phase runs, on a live connection.
      const twoCuts = (async () => {
        await proxy.cut({ afterBytes: 1 << 20, direction: 'to-initiator', mode: 'rst' });
        await proxy.cut({ afterBytes: 1 << 20, direction: 'to-initiator', mode: 'rst' });
      })();
      const json = await cli([...common, '--json'], 40_000);
      await twoCuts;
      expect(json.code).toBe(0);
      const r = JSON.parse(json.stdout);
      expect(r.errors).toBe(0);
      expect(r.recovery).toMatchObject({ reconnects: 2, connectionFailures: 2 });
      expect(r.recovery.recoveryMs).toBeGreaterThan(0);
      expect(r.recovery.recoveryMs).toBeLessThan(r.seconds * 1000);

      const oneCut = proxy.cut({ afterBytes: 1 << 20, direction: 'to-initiator', mode: 'rst' });
      const text = await cli(common, 40_000);
      await oneCut;
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^ {2}errors 0 {3}reconnects 1 \(\d+\.\d\d s without a connection, \d+ commands re-issued\)$/m);
    } finally {
      await proxy.close();
      await tgt.stop();
    }
  });
});

describe('staying up through target and network faults', () => {
  it('(b) tgtd killed and restarted mid-workload: I/O resumes and no acknowledged write is lost', { timeout: 60_000 }, async () => {
    // One backing file for both tgtd lives: the restarted target serves what the killed one stored.
    const file = path.join(dir, 'restart.img');
    writeFileSync(file, '');
    truncateSync(file, 32 << 20);
    let tgt: TgtdInstance = await startTgtd({ targets: [{ iqn: IQN, luns: [{ path: file }], params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    const session = await IscsiSession.open(options(proxy));
    try {
      const acknowledged = new Map<number, Buffer>();
      const workload = writeChunks(session, 200, 4, acknowledged);
      await waitFor(() => acknowledged.size >= 50, 20_000);
      await tgt.stop(); // SIGKILL: the target dies with commands in flight
      tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ path: file }], params: PARAMS }] });
      proxy.retarget({ host: tgt.host, port: tgt.port });
      await workload;
      expect(acknowledged.size).toBe(200);
      expect(session.counters.reconnects).toBeGreaterThanOrEqual(1);
      await verify(session, acknowledged);
    } finally {
      await session.logout();
      await proxy.close();
      await tgt.stop();
    }
  });

  it('(c) a blackholed link is detected within noop_out_interval + noop_out_timeout, and recovered once it heals', { timeout: 30_000 }, async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 << 20 }], params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    const session = await IscsiSession.open(options(proxy));
    try {
      const states: Array<{ state: string; code: string | undefined }> = [];
      session.on((e: SessionEvent) => e.type === 'state' && states.push({ state: e.state, code: e.error?.code }));
      await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 });
      proxy.blackhole(true);
      const read = session.command({ lun: 1, cdb: readCdb({ lba: 8, blocks: 8 }), readLength: 4096 });
      await until(session, () => states.some((s) => s.state === 'recovering'));
      // Detected by the ping: noop_out_interval of silence, then noop_out_timeout (the timing itself is checked on the
      // fake clock in core/test/session/session-core.test.ts; the test's own bound keeps this one finite).
      expect(states.find((s) => s.state === 'recovering')!.code).toBe('ISCSI_NOP_TIMEOUT');
      proxy.blackhole(false);
      await expect(read).resolves.toMatchObject({ status: 0 });
      expect(session.state).toBe('logged-in');
    } finally {
      await session.logout();
      await proxy.close();
      await tgt.stop();
    }
  });

  it('(d) target down past replacement_timeout: pending commands fail with a clear error, the process stays up, and it recovers later', { timeout: 30_000 }, async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 << 20 }], params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    const session = await IscsiSession.open(options(proxy, { replacementTimeoutMs: 1_500 }));
    try {
      await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 });
      proxy.refuse(true);
      await proxy.cut({ mode: 'rst' });
      const started = Date.now();
      const pending = Array.from({ length: 4 }, (_, i) => session.command({ lun: 1, cdb: readCdb({ lba: i * 8, blocks: 8 }), readLength: 4096 }));
      for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'ISCSI_REPLACEMENT_TIMEOUT', message: expect.stringMatching(/replacement_timeout/) });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_300);
      proxy.refuse(false);
      await until(session, () => session.state === 'logged-in');
      await expect(session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 })).resolves.toMatchObject({ status: 0 });
    } finally {
      await session.logout();
      await proxy.close();
      await tgt.stop();
    }
  });

  it('(e) a flipped byte with digests on: detected, the connection recovered, and only correct data delivered', { timeout: 40_000 }, async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 16 << 20 }], params: { ...PARAMS, HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' } }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    const session = await IscsiSession.open(options(proxy, { proposal: { defaultTime2Wait: 0, headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] } }));
    try {
      expect(session.parameters).toMatchObject({ headerDigest: true, dataDigest: true });
      const acknowledged = new Map<number, Buffer>();
      await writeChunks(session, 32, 4, acknowledged);
      // A byte flipped on the way to us (inside read data) and one on the way to the target (inside write data).
      proxy.flipByte({ direction: 'to-initiator', afterBytes: 300_000 });
      await verify(session, acknowledged);
      proxy.flipByte({ direction: 'to-target', afterBytes: 200_000 });
      await writeChunks(session, 32, 4, acknowledged, 32);
      await verify(session, acknowledged);
      expect(proxy.stats.flips).toBe(2);
      expect(session.counters.digestErrors).toBeGreaterThanOrEqual(1);
      expect(session.counters.reconnects).toBeGreaterThanOrEqual(2);
    } finally {
      await session.logout();
      await proxy.close();
      await tgt.stop();
    }
  });

  it('(g) a secret changed on the target: re-login fails with an authentication error and the session stops retrying', { timeout: 30_000 }, async () => {
    const user = { user: 'soak-user', secret: 'the-first-secret' };
    const tgt = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 << 20 }], chap: { incoming: [user] }, params: PARAMS }] });
    const proxy = await FaultProxy.start({ target: { host: tgt.host, port: tgt.port } });
    const session = await IscsiSession.open(options(proxy, { auth: loginAuthFrom(user) }));
    try {
      await session.command({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 });
      // The administrator changes the secret: delete the account and create it again with another password.
      await tgt.tgtadm(['--lld', 'iscsi', '--mode', 'account', '--op', 'delete', '--user', user.user]);
      await tgt.tgtadm(['--lld', 'iscsi', '--mode', 'account', '--op', 'new', '--user', user.user, '--password', 'a-second-secret']);
      await tgt.tgtadm(['--lld', 'iscsi', '--mode', 'account', '--op', 'bind', '--tid', '1', '--user', user.user]);
      const pending = session.command({ lun: 1, cdb: readCdb({ lba: 8, blocks: 8 }), readLength: 4096 });
      await proxy.cut({ mode: 'rst' });
      await expect(pending).rejects.toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
      expect(session.state).toBe('failed');
      // Failed is final: the session is closed, so its reconnect loop and timer have ended (no further attempt).
      expect(session.isClosed).toBe(true);
      await expect(session.execute({ lun: 1, cdb: readCdb({ lba: 0, blocks: 8 }), readLength: 4096 })).rejects.toMatchObject({ code: 'ISCSI_LOGIN_AUTH_FAILED' });
    } finally {
      await session.logout();
      await proxy.close();
      await tgt.stop();
    }
  });
});
