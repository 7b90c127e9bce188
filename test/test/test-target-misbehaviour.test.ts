// Each misbehaviour of the test target produces what it should on the wire — observed with a bare WireClient (no
// session logic in between) or, where the protocol needs an initiator that keeps its side, with core's IscsiSession.
// Also: what the target records when the initiator breaks the rules (RFC 7143 §4.2.2.1, §11.7, §13.10-§13.14).
// How our initiator reacts to each misbehaviour is tested elsewhere (by the lead).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeText,
  discoverTargets,
  encodePduToBuffer,
  IscsiSession,
  LoginError,
  LoginStateMachine,
  Opcode,
  PduFramer,
  readCdb,
  RESERVED_TAG,
  ScsiStatus,
  senseFromResponseData,
  SenseKey,
  testUnitReady,
  writeCdb,
  type LoginResponse,
  type NopOut,
  type SessionEvent,
} from '@iscsi-initiator/core';
import { TestTarget, WireClient, type TestTargetOptions, type WireClientOptions } from '../src/test-target/index.js';

const INITIATOR = 'iqn.2026-11.io.github.iscsi-initiator:misbehaviour-tests';
const started: TestTarget[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.close()));
});

/** A target without the login UNIT ATTENTION, so the first command of a test is answered as itself. */
async function start(options: TestTargetOptions = {}): Promise<TestTarget> {
  const t = await TestTarget.start({ targets: [{ unitAttentionOnLogin: false, luns: [{ size: '4M' }] }], ...options });
  started.push(t);
  return t;
}

async function wire(t: TestTarget, options: WireClientOptions = {}): Promise<WireClient> {
  return WireClient.connect(t.portal, { targetName: t.targetName, ...options });
}

/** An immediate NOP-Out ping; resolves when its NOP-In has come back — everything sent before it was processed. */
async function barrier(c: WireClient): Promise<void> {
  const itt = 0x7000_0000 + c.received.length;
  const ping: NopOut = { opcode: Opcode.NopOut, immediate: true, lun: 0n, itt, ttt: RESERVED_TAG, cmdSN: c.cmdSN, expStatSN: c.expStatSN, data: Buffer.alloc(0) };
  c.send(ping);
  await c.next(Opcode.NopIn, 3_000, (p) => p.itt === itt);
}

function open(t: TestTarget, extra: Record<string, unknown> = {}): Promise<IscsiSession> {
  return IscsiSession.open({ portal: t.portal, initiatorName: INITIATOR, targetName: t.targetName, loginTimeoutMs: 3_000, reconnect: false, ...extra });
}

describe("misbehaviour on the wire (TestTarget.misbehave)", () => {
  it("'garbage' sends bytes that frame as no PDU: the initiator's framer fails on an unknown opcode (§11.2.1.2)", async () => {
    const t = await start();
    const c = await wire(t);
    const handle = t.misbehave({ kind: 'garbage', bytes: 100 });
    expect((await c.ended())?.code).toBe('ISCSI_PDU_UNKNOWN_OPCODE');
    expect(handle.fired).toBe(1);
    expect(handle.active).toBe(false);
  });

  it("'garbage' on: 'command' answers the next SCSI command with garbage instead of a response", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'garbage', on: 'command' });
    await barrier(c); // armed, but nothing happens without a command
    c.command(testUnitReady());
    expect((await c.ended())?.code).toBe('ISCSI_PDU_UNKNOWN_OPCODE');
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse)).toBe(false);
  });

  it("'wrong-datasn': the next read's first Data-In carries DataSN 1 where §11.7 says 0", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'wrong-datasn' });
    c.command(readCdb({ lba: 0, blocks: 8 }), { read: 4096 });
    expect((await c.next(Opcode.DataIn)).dataSN).toBe(1);
    // One-shot: the next read is numbered correctly again.
    const from = c.received.length;
    c.command(readCdb({ lba: 0, blocks: 8 }), { read: 4096 });
    expect((await c.next(Opcode.DataIn, 3_000, () => true, from)).dataSN).toBe(0);
  });

  it("'oversized-segment': a Data-In longer than our MaxRecvDataSegmentLength (§13.12) — our framer refuses it", async () => {
    const t = await start();
    const c = await wire(t, { proposal: { maxRecvDataSegmentLength: 4096 } });
    t.misbehave({ kind: 'oversized-segment', extra: 512 });
    c.command(readCdb({ lba: 0, blocks: 16 }), { read: 8192 });
    expect((await c.ended())?.code).toBe('ISCSI_PDU_SEGMENT_TOO_LONG');
    expect(t.stats.misbehaviours.map((m) => m.kind)).toContain('oversized-segment');
  });

  it("'reject': a Reject with the reason and the command's header (§11.17); no response follows for it", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'reject', reason: 0x05 });
    const cmd = c.command(testUnitReady());
    const reject = await c.next(Opcode.Reject);
    expect(reject.reason).toBe(0x05);
    expect(reject.data.length).toBe(48);
    expect(reject.data[0]! & 0x3f).toBe(Opcode.ScsiCommand);
    expect(reject.data.readUInt32BE(16)).toBe(cmd.itt);
    await barrier(c);
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse)).toBe(false);
    // The rejected command consumed its CmdSN: the next one is served.
    c.command(testUnitReady());
    expect((await c.next(Opcode.ScsiResponse)).status).toBe(ScsiStatus.Good);
  });

  it("'reject' of another opcode: the next NOP-Out is rejected with reason 0x09", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'reject', opcode: Opcode.NopOut });
    c.send({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 5, ttt: RESERVED_TAG, cmdSN: c.cmdSN, expStatSN: c.expStatSN, data: Buffer.alloc(0) });
    const reject = await c.next(Opcode.Reject);
    expect([reject.reason, reject.data[0]! & 0x3f]).toEqual([0x09, Opcode.NopOut]);
  });

  it("'slow-r2t': the R2T of the next write comes no sooner than delayMs (§11.8)", async () => {
    const t = await start();
    const c = await wire(t, { proposal: { initialR2T: true, immediateData: false } });
    t.misbehave({ kind: 'slow-r2t', delayMs: 150 });
    const started = performance.now();
    const cmd = c.command(writeCdb({ lba: 0, blocks: 1 }), { write: Buffer.alloc(512) });
    const r2t = await c.next(Opcode.R2T);
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect([r2t.bufferOffset, r2t.desiredDataTransferLength, r2t.r2tSN]).toEqual([0, 512, 0]);
    c.send({ opcode: Opcode.DataOut, final: true, lun: 0n, itt: cmd.itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(512, 1) });
    expect((await c.next(Opcode.ScsiResponse)).status).toBe(ScsiStatus.Good);
  });

  it("'nop-ping': NOP-In pings with a TTT (§11.19); after missLimit unanswered the connection is dropped", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'nop-ping', intervalMs: 20, missLimit: 2 });
    const ping = await c.next(Opcode.NopIn);
    expect(ping.itt).toBe(RESERVED_TAG);
    expect(ping.ttt).not.toBe(RESERVED_TAG);
    await c.ended(); // we never answer
    expect(t.stats.nopPings.sent).toBeGreaterThanOrEqual(2);
    expect(t.stats.misbehaviours.at(-1)?.detail).toMatch(/unanswered: connection dropped/);
  });

  it("'nop-ping' answered by an initiator keeps the connection; cancel() stops the pings", async () => {
    const t = await start();
    const session = await open(t, { noopOutIntervalMs: 0 });
    const handle = t.misbehave({ kind: 'nop-ping', intervalMs: 25, missLimit: 8 }); // generous: answers must not race a loaded machine
    await t.waitUntil((s) => s.nopPings.answered >= 4);
    handle.cancel();
    expect(session.isClosed).toBe(false);
    await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: 512 });
    await session.logout();
  });

  it("'async-logout': Async Message AsyncEvent 1 with Parameter3 = seconds to log out (§11.9.1)", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'async-logout', seconds: 3 });
    const m = await c.next(Opcode.AsyncMessage);
    expect([m.asyncEvent, m.parameter3]).toEqual([1, 3]);
  });

  it("'async-logout' to a session: the initiator hears the request and logs out", async () => {
    const t = await start();
    const session = await open(t);
    const events: SessionEvent['type'][] = [];
    session.on((e) => events.push(e.type));
    t.misbehave({ kind: 'async-logout', seconds: 1 });
    await t.waitUntil((s) => s.logouts === 1);
    expect(events).toContain('logout-requested');
  });

  it("'async-drop': AsyncEvent 2 naming the connection (Parameter1 CID, Parameter2 Time2Wait), then the drop", async () => {
    const t = await start();
    const c = await wire(t, { cid: 7 });
    t.misbehave({ kind: 'async-drop', time2Wait: 2, time2Retain: 0 });
    const m = await c.next(Opcode.AsyncMessage);
    expect([m.asyncEvent, m.parameter1, m.parameter2, m.parameter3]).toEqual([2, 7, 2, 0]);
    expect((await c.ended())?.code).toBe('ISCSI_CONNECTION_CLOSED');
  });

  it("'redirect': the next login is answered 0x0101 (0x0102 permanent) with TargetAddress (§11.13.5)", async () => {
    const home = await start();
    const away = await start();
    home.misbehave({ kind: 'redirect', to: `${away.address},1`, permanent: true });
    const response = await rawFirstLoginResponse(home);
    expect([response.statusClass, response.statusDetail]).toEqual([1, 2]);
    expect(decodeText(response.data)).toContainEqual(['TargetAddress', `${away.address},1`]);
    // One-shot, and an initiator follows it: a temporary redirect this time.
    home.misbehave({ kind: 'redirect', to: away.portal });
    const session = await open(home);
    expect(session.portal).toMatchObject(away.portal);
    expect(home.stats.logins).toBe(0);
    expect(away.stats.logins).toBe(1);
    await session.logout();
  });

  it.each([
    [false, 'ISCSI_CONNECTION_CLOSED'],
    [true, 'ISCSI_CONNECTION_FAILED'],
  ])("'drop' (rst: %s) closes the connection, with a TCP RST when asked", async (rst, code) => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'drop', rst });
    const error = await c.ended();
    expect(error?.code).toBe(code);
    if (rst) expect(error?.message).toMatch(/ECONNRESET/);
  });

  it("'drop' on: 'command' closes instead of answering the next command", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'drop', on: 'command' });
    await barrier(c);
    c.command(testUnitReady());
    await c.ended();
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse)).toBe(false);
  });

  it("'stall': the next command stays unanswered — a task that ABORT TASK completes (§11.5.1)", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'stall' });
    const cmd = c.command(testUnitReady());
    await barrier(c);
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse)).toBe(false);
    expect(t.sessionList()[0]!.taskTags).toEqual([cmd.itt]);
    c.send({ opcode: Opcode.TaskMgmtRequest, immediate: true, function: 1, lun: 0n, itt: 0x99, referencedTaskTag: cmd.itt, cmdSN: c.cmdSN, expStatSN: c.expStatSN, refCmdSN: cmd.cmdSN, expDataSN: 0 });
    expect((await c.next(Opcode.TaskMgmtResponse)).response).toBe(0);
    expect(t.sessionList()[0]!.tasks).toBe(0);
  });

  it("'stall' with all, persistent: nothing is answered any more, NOP-Out included, until cancelled", async () => {
    const t = await start();
    const c = await wire(t);
    const handle = t.misbehave({ kind: 'stall', all: true, persistent: true });
    c.send({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 1, ttt: RESERVED_TAG, cmdSN: c.cmdSN, expStatSN: c.expStatSN, data: Buffer.alloc(0) });
    const ignored = c.command(testUnitReady());
    await t.waitUntil((s) => s.misbehaviours.filter((m) => m.kind === 'stall').length === 2);
    handle.cancel();
    await barrier(c);
    expect(c.received.filter((p) => p.opcode === Opcode.NopIn).map((p) => p.itt)).not.toContain(1);
    // The ignored command used up its CmdSN: the next one is served.
    const next = c.command(testUnitReady());
    const response = await c.next(Opcode.ScsiResponse);
    expect([response.itt, response.status]).toEqual([next.itt, ScsiStatus.Good]);
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse && p.itt === ignored.itt)).toBe(false);
  });

  it("'busy' count 2: the next two commands end with BUSY (SAM-5 §5.3.1), the third with GOOD", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'busy', count: 2 });
    for (let i = 0; i < 3; i++) c.command(testUnitReady());
    await t.waitUntil((s) => (s.scsiCommands['0x00'] ?? 0) === 3);
    await barrier(c);
    expect(c.received.filter((p) => p.opcode === Opcode.ScsiResponse).map((p) => p.status)).toEqual([ScsiStatus.Busy, ScsiStatus.Busy, ScsiStatus.Good]);
  });

  it("'auth-change': later logins with the old CHAP secret fail with 0x0201; the new one works", async () => {
    const t = await start({ targets: [{ chap: { incoming: { user: 'u', secret: 'old-secret' } } }] });
    const chap = (secret: string) => ({ auth: { method: 'CHAP', chap: { credentials: { username: 'u', secret: Buffer.from(secret) } } } });
    const first = await open(t, chap('old-secret'));
    t.misbehave({ kind: 'auth-change', secret: 'new-secret' });
    const e = await open(t, { ...chap('old-secret'), initiatorName: `${INITIATOR}-2` }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LoginError);
    expect([(e as LoginError).statusClass, (e as LoginError).statusDetail]).toEqual([2, 1]);
    const second = await open(t, { ...chap('new-secret'), initiatorName: `${INITIATOR}-3` });
    expect(first.isClosed).toBe(false); // a session already in is not affected
    await Promise.all([first.logout(), second.logout()]);
  });

  it("'unit-attention': the next command reports the queued condition once (SAM-5 §5.14)", async () => {
    const t = await start();
    const c = await wire(t);
    t.misbehave({ kind: 'unit-attention', asc: 0x2a, ascq: 0x09 });
    c.command(testUnitReady());
    const first = await c.next(Opcode.ScsiResponse);
    const sense = senseFromResponseData(first.data)!;
    expect([first.status, sense.senseKey, sense.asc, sense.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.UnitAttention, 0x2a, 0x09]);
    c.command(testUnitReady());
    expect((await c.next(Opcode.ScsiResponse, 3_000, (p) => p !== first)).status).toBe(ScsiStatus.Good);
  });

  it('a misbehaviour a test got wrong is an ArgumentError, and nothing is armed', async () => {
    const t = await start();
    expect(() => t.misbehave({ kind: 'nope' } as never)).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' }));
    expect(() => t.misbehave({ kind: 'slow-r2t', delayMs: -5 })).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' }));
    expect(() => t.misbehave({ kind: 'auth-change', secret: 'x' })).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' })); // no CHAP here
    expect(() => t.misbehave({ kind: 'busy', target: 'iqn.2026-11.test:unknown' })).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_ARGUMENT' }));
    const c = await wire(t);
    c.command(testUnitReady());
    expect((await c.next(Opcode.ScsiResponse)).status).toBe(ScsiStatus.Good);
  });

  it('an immediate misbehaviour armed before login waits for the first connection to reach full feature', async () => {
    const t = await start();
    const handle = t.misbehave({ kind: 'async-logout', seconds: 5 });
    expect(handle.fired).toBe(0);
    const c = await wire(t);
    expect((await c.next(Opcode.AsyncMessage)).asyncEvent).toBe(1);
    expect(handle.fired).toBe(1);
  });
});

describe('what the target records of the initiator (stats, violations)', () => {
  it('counts PDUs by opcode, SCSI operation codes, logins and logouts', async () => {
    const t = await start();
    const session = await open(t);
    await session.command({ lun: 0, cdb: readCdb({ lba: 0, blocks: 1 }), readLength: 512 });
    await session.command({ lun: 0, cdb: writeCdb({ lba: 0, blocks: 1 }), writeData: Buffer.alloc(512) });
    await session.logout();
    await t.waitUntil((s) => s.logouts === 1);
    const s = t.stats;
    expect([s.loginAttempts, s.logins, s.logouts]).toEqual([1, 1, 1]);
    expect(s.pdus['SCSI Command']).toBe(2);
    expect(s.pdus['Logout Request']).toBe(1);
    expect(s.scsiCommands).toMatchObject({ '0x28': 1, '0x2a': 1 });
    expect(s.violations).toEqual([]);
  });

  it('a command beyond MaxCmdSN, or below ExpCmdSN, is ignored and recorded (§4.2.2.1)', async () => {
    const t = await start();
    const c = await wire(t);
    c.command(testUnitReady(), { cmdSN: (c.login.maxCmdSN + 1) >>> 0 });
    c.command(testUnitReady(), { cmdSN: (c.login.expCmdSN - 1) >>> 0 });
    await barrier(c);
    expect(c.received.some((p) => p.opcode === Opcode.ScsiResponse)).toBe(false);
    expect(t.stats.violations.map((v) => v.kind)).toEqual(['cmdsn-overrun', 'cmdsn-duplicate']);
    c.command(testUnitReady()); // CmdSN == ExpCmdSN still works
    expect((await c.next(Opcode.ScsiResponse)).status).toBe(ScsiStatus.Good);
  });

  it('a Data-Out with the wrong DataSN fails the task with ABORTED COMMAND 4Bh/00h (§11.7, §11.4.7.2)', async () => {
    const t = await start();
    const c = await wire(t, { proposal: { initialR2T: true, immediateData: false } });
    const cmd = c.command(writeCdb({ lba: 0, blocks: 2 }), { write: Buffer.alloc(1024) });
    const r2t = await c.next(Opcode.R2T);
    c.send({ opcode: Opcode.DataOut, final: true, lun: 0n, itt: cmd.itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 1, bufferOffset: 0, data: Buffer.alloc(1024) });
    const response = await c.next(Opcode.ScsiResponse);
    const sense = senseFromResponseData(response.data)!;
    expect([response.status, sense.senseKey, sense.asc, sense.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.AbortedCommand, 0x4b, 0x00]);
    expect(t.stats.violations.map((v) => v.kind)).toEqual(['data-out']);
  });

  it('immediate data when ImmediateData=No fails with ABORTED COMMAND 0Ch/0Ch (§13.11, §11.4.7.2)', async () => {
    const t = await start();
    const c = await wire(t, { proposal: { initialR2T: true, immediateData: false } });
    c.command(writeCdb({ lba: 0, blocks: 1 }), { write: Buffer.alloc(512), immediateData: Buffer.alloc(512) });
    const response = await c.next(Opcode.ScsiResponse);
    const sense = senseFromResponseData(response.data)!;
    expect([sense.senseKey, sense.asc, sense.ascq]).toEqual([SenseKey.AbortedCommand, 0x0c, 0x0c]);
    expect(t.stats.violations.map((v) => v.kind)).toEqual(['unsolicited-data']);
  });

  it('a data segment over the target MaxRecvDataSegmentLength ends the connection (§13.12)', async () => {
    const t = await start({ targets: [{ unitAttentionOnLogin: false, params: { maxRecvDataSegmentLength: 4096 } }] });
    const c = await wire(t);
    c.send({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 1, ttt: RESERVED_TAG, cmdSN: c.cmdSN, expStatSN: c.expStatSN, data: Buffer.alloc(8192) });
    await c.ended();
    expect(t.stats.violations.map((v) => v.kind)).toEqual(['malformed-pdu']);
  });

  it('SNACK at ErrorRecoveryLevel 0 is rejected (§11.16, §11.17)', async () => {
    const t = await start();
    const c = await wire(t);
    c.send({ opcode: Opcode.SnackRequest, type: 1, lun: 0n, itt: RESERVED_TAG, ttt: 0, expStatSN: c.expStatSN, begRun: 0, runLength: 0 });
    expect((await c.next(Opcode.Reject)).reason).toBe(0x03);
    expect(t.stats.violations.map((v) => v.kind)).toEqual(['snack']);
  });

  it('a long SendTargets answer is split at the initiator MaxRecvDataSegmentLength and continued by TTT (§11.11)', async () => {
    const targets = Array.from({ length: 30 }, (_, i) => ({ name: `iqn.2026-11.test.many:target-with-a-rather-long-name-${i}`, luns: [{ size: '1M' }] }));
    const t = await start({ targets });
    const found = await discoverTargets({ portal: t.portal, initiatorName: INITIATOR, proposal: { maxRecvDataSegmentLength: 512 } });
    expect(found.map((f) => f.targetName)).toEqual(targets.map((x) => x.name));
    expect(t.stats.pdus['Text Request']).toBeGreaterThan(3);
  });
});

/** Sends the first Login Request of a Normal session by hand and returns the target's raw answer. */
async function rawFirstLoginResponse(t: TestTarget): Promise<LoginResponse> {
  const machine = new LoginStateMachine({ initiatorName: INITIATOR, sessionType: 'Normal', targetName: t.targetName, isid: 0x80_0000_0001n, auth: { method: 'None' } });
  const first = machine.start();
  if (first.kind !== 'send') throw new Error('no request');
  const socket = net.connect(t.portal);
  try {
    return await new Promise<LoginResponse>((resolve, reject) => {
      const framer = new PduFramer({ accept: 'target' });
      socket.on('error', reject);
      socket.on('connect', () => socket.write(encodePduToBuffer(first.pdu, { headerDigest: false, dataDigest: false })));
      socket.on('data', (chunk: Buffer) => {
        const [pdu] = framer.push(chunk);
        if (pdu?.opcode === Opcode.LoginResponse) resolve({ ...pdu, data: Buffer.from(pdu.data) });
      });
    });
  } finally {
    socket.destroy();
  }
}
