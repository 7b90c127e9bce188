// The addon's HBA connection (native/src/hba*.cc, native/index.js) against the real simulator (driver/sim): issue 12
// item 1, "Linux: the simulator's Unix socket, the memfd mapping ...; both: the regions reach JS as external
// ArrayBuffers (no copy). One wake-up serves a batch of descriptors". A tiny RAM-disk responder written here against
// core/src/hba/abi.ts answers the simulator's probe through the rings, so the NBD export appearing proves that
// descriptors, data and completions cross between JS and the HBA.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hba, type HbaNoticeEvent, openHba } from '@iscsi-initiator/native';
import { HBA_CONSTANTS as K, HBA_STRUCTS as S, HbaCmdOp, HbaCplFlag, HbaCplOp, HbaDirection, HbaNotice } from '../../core/src/hba/abi.js';
import { buildSimulator } from '../src/hba-sim-build.js';
import { requireTool } from '../src/require-tool.js';

const run = promisify(execFile);
const driver = path.resolve(import.meta.dirname, '../../driver');
const ready = requireTool('make', 'nbdinfo', 'nbdcopy');
const CALL_TIMEOUT_MS = 10_000;

/** A child whose output lines are kept, with a bounded wait for the first line matching a pattern after `from`. */
class Proc {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.on('data', (d: Buffer) => {
        const parts = (rest + d.toString()).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) {
          this.lines.push(line);
          this.waiters = this.waiters.filter((w) => (w.re.test(line) ? (w.resolve(), false) : true));
        }
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }
  waitFor(re: RegExp, from = 0, ms = 20_000): Promise<void> {
    if (this.lines.slice(from).some((l) => re.test(l))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; saw:\n${this.lines.join('\n')}`)), ms);
      this.waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

const BLOCK = 512;
const DISK_BYTES = 1 << 20;

/**
 * The daemon's side of the rings for one RAM-disk LUN, on abi.ts offsets only: the probe's REPORT LUNS, standard
 * INQUIRY, READ CAPACITY (16), TEST UNIT READY, and READ/WRITE (16); everything else CHECK CONDITION, ILLEGAL
 * REQUEST, INVALID COMMAND OPERATION CODE (SPC-4 4.5.6), which the probe tolerates (no VPD pages, no mode page).
 */
class RamDisk {
  readonly disk = new Uint8Array(DISK_BYTES);
  readonly seen: string[] = [];
  private readonly view: DataView;
  private readonly index: Int32Array;
  private readonly pool: Uint8Array;
  constructor(private readonly hba: Hba) {
    this.view = new DataView(hba.control);
    this.index = new Int32Array(hba.control);
    this.pool = new Uint8Array(hba.pool);
  }
  private cmdIndex(field: 'producer' | 'consumer'): number {
    return (K.CMD_RING_OFFSET + S.cmd_ring.fields[field][0]) / 4;
  }
  private cplIndex(field: 'producer' | 'consumer'): number {
    return (K.CPL_RING_OFFSET + S.cpl_ring.fields[field][0]) / 4;
  }
  /** One notice: every descriptor published so far, then one doorbell for the whole batch. */
  serve(): number {
    const F = S.cmd_desc.fields;
    let consumer = Atomics.load(this.index, this.cmdIndex('consumer')) >>> 0;
    const producer = Atomics.load(this.index, this.cmdIndex('producer')) >>> 0; // acquire (Atomics are seq-cst)
    let served = 0;
    for (; consumer !== producer; consumer = (consumer + 1) >>> 0) {
      const at = K.CMD_RING_OFFSET + S.cmd_ring.fields.entries[0] + (consumer & K.RING_MASK) * K.DESC_SIZE;
      const op = this.view.getUint8(at + F.op[0]);
      const tag = this.view.getUint32(at + F.tag[0], true);
      const generation = this.view.getUint32(at + F.generation[0], true);
      const direction = this.view.getUint8(at + F.direction[0]);
      const transfer = this.view.getUint32(at + F.transfer_length[0], true);
      const poolOffset = this.view.getUint32(at + F.pool_offset[0], true);
      const cdb = new Uint8Array(this.hba.control, at + F.cdb[0], 16);
      Atomics.store(this.index, this.cmdIndex('consumer'), (consumer + 1) | 0); // release: the entry is free again
      if (op !== HbaCmdOp.SCSI) continue;
      this.seen.push(cdb[0]!.toString(16).padStart(2, '0'));
      const data = new Uint8Array(this.hba.pool, poolOffset, transfer); // a view of the pool, no copy
      const { status, length } = this.execute(cdb, data, direction);
      this.complete(tag, generation, status, direction === HbaDirection.NONE ? 0 : length, transfer);
      served++;
    }
    if (served > 0) this.hba.doorbell();
    return served;
  }
  private execute(cdb: Uint8Array, data: Uint8Array, direction: number): { status: number; length: number } {
    const put = (bytes: number[]): { status: number; length: number } => {
      const n = Math.min(bytes.length, data.length);
      data.set(bytes.slice(0, n));
      return { status: 0, length: n };
    };
    switch (cdb[0]) {
      case 0xa0: // SPC-4 6.33 REPORT LUNS: LUN 0 only
        return put([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      case 0x12: // SPC-4 6.6.2 standard INQUIRY: direct access, SPC-4; no VPD pages
        if ((cdb[1]! & 1) !== 0) return { status: 2, length: 0 };
        return put([0, 0, 6, 2, 31, 0, 0, 0, ...Buffer.from('JSRAMDSKADDON TEST DISK 0001')]);
      case 0x9e: { // SBC-3 5.16 READ CAPACITY (16)
        const out = new Uint8Array(32);
        const v = new DataView(out.buffer);
        v.setBigUint64(0, BigInt(DISK_BYTES / BLOCK - 1));
        v.setUint32(8, BLOCK);
        return put([...out]);
      }
      case 0x00: // TEST UNIT READY
        return { status: 0, length: 0 };
      case 0x88: case 0x8a: { // SBC-3 READ (16) / WRITE (16)
        const cdbView = new DataView(cdb.buffer, cdb.byteOffset, 16);
        const lba = Number(cdbView.getBigUint64(2));
        const bytes = cdbView.getUint32(10) * BLOCK;
        if (lba * BLOCK + bytes > DISK_BYTES || bytes !== data.length) return { status: 2, length: 0 };
        if (cdb[0] === 0x88 && direction === HbaDirection.READ) data.set(this.disk.subarray(lba * BLOCK, lba * BLOCK + bytes));
        else this.disk.set(data, lba * BLOCK);
        return { status: 0, length: bytes };
      }
      default:
        return { status: 2, length: 0 };
    }
  }
  private complete(tag: number, generation: number, status: number, length: number, transfer: number): void {
    const F = S.cpl_desc.fields;
    const producer = Atomics.load(this.index, this.cplIndex('producer')) >>> 0;
    const consumer = Atomics.load(this.index, this.cplIndex('consumer')) >>> 0;
    if (((producer - consumer) >>> 0) >= K.RING_ENTRIES) throw new Error('completion ring full');
    const at = K.CPL_RING_OFFSET + S.cpl_ring.fields.entries[0] + (producer & K.RING_MASK) * K.DESC_SIZE;
    new Uint8Array(this.hba.control, at, K.DESC_SIZE).fill(0);
    this.view.setUint32(at + F.tag[0], tag, true);
    this.view.setUint32(at + F.generation[0], generation, true);
    this.view.setUint8(at + F.op[0], HbaCplOp.TASK);
    this.view.setUint8(at + F.scsi_status[0], status);
    let flags = 0;
    if (status === 2) {
      // SPC-4 4.5.3 fixed sense in the task's aux record: ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (20h/00h).
      const sense = K.TASK_AUX_OFFSET + tag * K.TASK_AUX_SIZE + S.task_aux.fields.sense[0];
      const bytes = new Uint8Array(this.hba.control, sense, 18);
      bytes.fill(0);
      bytes.set([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0]);
      this.view.setUint16(at + F.sense_length[0], 18, true);
      flags |= HbaCplFlag.SENSE;
    } else if (length < transfer) {
      flags |= HbaCplFlag.UNDERFLOW; // RFC 7143 11.4.5.2: fewer bytes than expected
      this.view.setUint32(at + F.residual[0], transfer - length, true);
    }
    this.view.setUint8(at + F.flags[0], flags);
    this.view.setUint32(at + F.data_length[0], length, true);
    Atomics.store(this.index, this.cplIndex('producer'), (producer + 1) | 0); // release: publish
  }
}

let dir: string;
let sim: Proc;
const socket = (): string => path.join(dir, 'hba.sock');

beforeAll(async () => {
  if (!ready) return;
  buildSimulator();
  dir = mkdtempSync(path.join(os.tmpdir(), 'hba-addon-'));
  sim = new Proc(spawn(path.join(driver, 'build/sim/iscsi-hba-sim'), ['--socket', socket(), '--nbd-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await sim.waitFor(/listening on/);
}, 200_000);

afterAll(async () => {
  if (sim !== undefined && sim.child.exitCode === null) {
    sim.child.kill('SIGKILL');
    await sim.exited;
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe.runIf(ready)('the addon over the HBA simulator', () => {
  it('a handshake claiming another ABI major is refused with the typed error ISCSI_HBA_E_VERSION_MISMATCH', async () => {
    // iscsi_hba_abi.h: "A peer with another major is refused (ISCSI_HBA_E_VERSION_MISMATCH)"; the driver's version
    // is always in the answer. Issue 12 brief: errors are typed with the header's iscsi_hba_error name.
    await expect(openHba({ socketPath: socket(), callTimeoutMs: CALL_TIMEOUT_MS, abiVersion: 9 << 16 })).rejects.toMatchObject({
      code: 'ISCSI_HBA_E_VERSION_MISMATCH',
      status: 1,
      peerAbiVersion: K.ABI_VERSION,
    });
    await sim.waitFor(/refused HANDSHAKE \(ISCSI_HBA_E_VERSION_MISMATCH\)/);
  });

  it('no simulator at the path: ENOENT, not a hang', async () => {
    await expect(openHba({ socketPath: path.join(dir, 'nobody.sock'), callTimeoutMs: CALL_TIMEOUT_MS })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('maps both regions as ArrayBuffers of the ABI sizes, answers a probe through the rings from JS, and the LUN appears over NBD', async () => {
    const hba = await openHba({ socketPath: socket(), callTimeoutMs: CALL_TIMEOUT_MS });
    try {
      // Issue 12 item 1: "the regions reach JS as external ArrayBuffers (no copy)"; sizes from abi.ts.
      expect(hba.control.byteLength).toBe(K.CONTROL_SIZE);
      expect(hba.pool.byteLength).toBe(K.POOL_SIZE);
      const header = new DataView(hba.control);
      expect(header.getUint32(S.region_header.fields.magic[0], true)).toBe(K.MAGIC);
      expect(header.getUint32(S.region_header.fields.abi_version[0], true)).toBe(K.ABI_VERSION);
      expect(header.getUint32(S.region_header.fields.control_size[0], true)).toBe(K.CONTROL_SIZE);
      expect(hba.info).toMatchObject({ abiVersion: K.ABI_VERSION, maxTransfer: K.MAX_TRANSFER, queueDepth: K.MAX_TASKS, ringEntries: K.RING_ENTRIES, poolSize: K.POOL_SIZE, poolSlotSize: K.POOL_SLOT_SIZE, maxTargets: K.MAX_TARGETS });

      const disk = new RamDisk(hba);
      const notices: HbaNoticeEvent[] = [];
      let batches = 0;
      hba.onNotice((notice) => {
        notices.push(notice);
        if (disk.serve() > 0) batches++;
      });
      const mark = sim.lines.length;
      const { targetId, existed } = await hba.createTarget('iqn.2026-12.test:addon,1');
      expect(existed).toBe(false);
      // The probe crossed the rings: the simulator published the export, which needed every answer above.
      await sim.waitFor(new RegExp(`target ${targetId} ready with 1 lun`), mark);
      expect(notices.length).toBeGreaterThan(0);
      expect(notices.every((n) => (n.kinds & HbaNotice.COMMANDS) !== 0)).toBe(true);
      expect(batches).toBeGreaterThan(0);
      // driver/README.md "The probe": REPORT LUNS, INQUIRY, VPD 0x00 (refused here, so no other page), READ
      // CAPACITY (16), MODE SENSE (6) (refused: not write-protected), TEST UNIT READY.
      expect(disk.seen.slice(0, 6)).toEqual(['a0', '12', '12', '9e', '1a', '00']);
      const { stdout } = await run('nbdinfo', ['--json', `nbd+unix:///?socket=${dir}/t${targetId}-lun0.sock`], { timeout: 20_000 });
      expect((JSON.parse(stdout) as { exports: Array<Record<string, unknown>> }).exports[0]).toMatchObject({ 'export-size': DISK_BYTES, block_size_minimum: BLOCK });

      // Data both ways through the pool views: nbdcopy writes 64 KiB (WRITE (16) into this RAM disk), then reads it
      // back (READ (16) from it).
      {
        const payload = randomBytes(64 << 10);
        const file = path.join(dir, 'payload.bin');
        writeFileSync(file, payload);
        const uri = `nbd+unix:///?socket=${dir}/t${targetId}-lun0.sock`;
        await run('nbdcopy', [file, uri], { timeout: 20_000 });
        expect(Buffer.from(disk.disk.subarray(0, payload.length)).equals(payload)).toBe(true);
        disk.disk.set(randomBytes(BLOCK), payload.length); // a block only JS wrote
        await run('nbdcopy', [uri, path.join(dir, 'back.bin')], { timeout: 20_000 });
        expect(readFileSync(path.join(dir, 'back.bin')).subarray(0, payload.length + BLOCK).equals(Buffer.from(disk.disk.subarray(0, payload.length + BLOCK)))).toBe(true);
        expect(disk.seen).toContain('8a');
        expect(disk.seen).toContain('88');
      }

      // The same key gets the same target back (iscsi_hba_abi.h, CREATE_TARGET); then it goes away.
      expect(await hba.createTarget('iqn.2026-12.test:addon,1')).toEqual({ targetId, existed: true });
      const before = sim.lines.length;
      await hba.destroyTarget(targetId);
      await sim.waitFor(new RegExp(`target ${targetId} destroyed`), before);
      await expect(hba.destroyTarget(60)).rejects.toMatchObject({ code: 'ISCSI_HBA_E_UNKNOWN_TARGET', status: 7 });
      // iscsi_hba_create_target_in.key: "NUL-padded UTF-8, at least one byte" (and room for the padding).
      await expect(hba.createTarget('')).rejects.toMatchObject({ code: 'ISCSI_HBA_E_BAD_ARGUMENT' });
      await expect(hba.createTarget('x'.repeat(K.TARGET_KEY_SIZE))).rejects.toMatchObject({ code: 'ISCSI_HBA_E_BAD_ARGUMENT' });
    } finally {
      hba.close();
    }
  }, 60_000);

  it('close() joins the notice thread, detaches the regions and delivers nothing after; a second open attaches', async () => {
    const hba = await openHba({ socketPath: socket(), callTimeoutMs: CALL_TIMEOUT_MS });
    let after = 0;
    let closedAt = -1;
    hba.onNotice(() => {
      if (closedAt >= 0) after++;
    });
    hba.onDisconnect(() => {
      if (closedAt >= 0) after++;
    });
    const mark = sim.lines.length;
    hba.close();
    closedAt = Date.now();
    expect(hba.closed).toBe(true);
    // The simulator saw this daemon go (event-driven, bounded), so any disconnect event would have been raised.
    await sim.waitFor(/daemon disconnected/, mark);
    await expect(hba.createTarget('iqn.2026-12.test:addon,2')).rejects.toMatchObject({ code: 'ERR_HBA_CLOSED' });
    // The buffers JS still holds no longer reach the HBA: private zero pages took the shared ones' place.
    expect(new DataView(hba.control).getUint32(0, true)).toBe(0);
    // One daemon at a time: the next attaches, proving the first let go.
    const next = await openHba({ socketPath: socket(), callTimeoutMs: CALL_TIMEOUT_MS });
    expect(next.info.attachEpoch).toBeGreaterThan(0);
    next.close();
    expect(after).toBe(0);
  });
  it('a call the HBA never answers is bounded: ETIMEDOUT after callTimeoutMs (the simulator serves one daemon at a time)', async () => {
    const first = await openHba({ socketPath: socket(), callTimeoutMs: CALL_TIMEOUT_MS });
    try {
      // The second connection waits in the listen backlog: its handshake gets no answer.
      await expect(openHba({ socketPath: socket(), callTimeoutMs: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    } finally {
      first.close();
    }
  });

  it('the HBA going away: onDisconnect with ECONNRESET, and calls reject with it', async () => {
    const other = path.join(dir, 'other');
    mkdirSync(other);
    const second = new Proc(spawn(path.join(driver, 'build/sim/iscsi-hba-sim'), ['--socket', path.join(other, 'hba.sock'), '--nbd-dir', other], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await second.waitFor(/listening on/);
    const hba = await openHba({ socketPath: path.join(other, 'hba.sock'), callTimeoutMs: CALL_TIMEOUT_MS });
    try {
      const lost = new Promise<{ code: string }>((resolve) => hba.onDisconnect(resolve));
      second.child.kill('SIGKILL');
      await second.exited;
      expect(await lost).toMatchObject({ code: 'ECONNRESET' });
      await expect(hba.createTarget('iqn.2026-12.test:addon,3')).rejects.toMatchObject({ code: 'ECONNRESET' });
    } finally {
      hba.close();
    }
  });
});
