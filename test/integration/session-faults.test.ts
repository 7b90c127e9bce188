// IscsiSession against a scripted target: timeouts and task management, the command window and queue depth, async
// events, Reject, BUSY/UNIT ATTENTION retries and a bad DataSN — faults tgtd cannot produce on cue. Every wait is
// bounded (per-test timeout, `next()` timeouts); nothing sleeps to synchronise: the target reacts to PDUs.
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeText,
  encodeLun,
  IscsiError,
  IscsiSession,
  Opcode,
  ProtocolError,
  RESERVED_TAG,
  ScsiError,
  SenseKey,
  TmfResponse,
  type ScsiCommand,
  type SessionEvent,
  type SessionOptions,
} from '../../core/src/index.js';
import { fixedSense, ScriptedTarget, type ScriptedTargetOptions, type TargetConnection } from '../src/scripted-target.js';

const TUR = Buffer.alloc(6); // TEST UNIT READY
const BOUND = { timeout: 5_000 };

/** READ(10) of one block at `lba`: the LBA tells commands apart at the target. */
function read10(lba: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(lba, 2);
  cdb[8] = 1;
  return cdb;
}

const lbaOf = (command: ScsiCommand) => command.cdb.readUInt32BE(2);
const isCommand = (pdu: { opcode: number }): pdu is ScsiCommand => pdu.opcode === Opcode.ScsiCommand;

const targets: ScriptedTarget[] = [];
const sessions: IscsiSession[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) session.destroy();
  const done = targets.splice(0);
  await Promise.all(done.map((t) => t.close()));
  for (const target of done) {
    expect(target.errors).toEqual([]);
    // §4.2.2.1: "CmdSN ... MUST NOT be sent ... beyond MaxCmdSN" — checked for every test.
    for (const c of target.connections) expect(c.overruns).toEqual([]);
  }
});

async function setup(
  options: ScriptedTargetOptions = {},
  sessionOptions: Partial<SessionOptions> = {},
): Promise<{ target: ScriptedTarget; session: IscsiSession; c: TargetConnection }> {
  const target = await ScriptedTarget.start(options);
  targets.push(target);
  const session = await IscsiSession.open({
    portal: target.portal,
    initiatorName: 'iqn.2026-11.io.github.iscsi-initiator:faults',
    targetName: 'iqn.2026-11.test:scripted',
    loginTimeoutMs: 2_000,
    reconnect: false, // one connection's behaviour: its loss ends the session
    ...sessionOptions,
  });
  sessions.push(session);
  return { target, session, c: target.connection };
}

/** The next session event of `type`, or a rejection after `timeoutMs`. */
function nextEvent<T extends SessionEvent['type']>(session: IscsiSession, type: T, timeoutMs = 3_000): Promise<Extract<SessionEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no '${type}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = session.on((event) => {
      if (event.type !== type) return;
      clearTimeout(timer);
      off();
      resolve(event as Extract<SessionEvent, { type: T }>);
    });
  });
}

/** Answers every outstanding command GOOD once the current burst of PDUs has been read (so bursts are visible). */
function answerAllSoon(c: TargetConnection): void {
  setImmediate(() => {
    for (const command of [...c.outstanding.values()]) c.scsiResponse(command);
  });
}

describe('per-command timeout: ABORT TASK (RFC 7143 §11.5.1) and a target that never answers it', BOUND, () => {
  it('the command is aborted with the right TMF fields, fails with ISCSI_COMMAND_TIMEOUT, and the session stays usable', async () => {
    let commands = 0;
    const { session, c } = await setup(
      {
        onPdu(pdu, c) {
          if (isCommand(pdu) && ++commands > 1) c.scsiResponse(pdu); // the first command is ignored
          if (pdu.opcode === Opcode.TaskMgmtRequest) c.tmfResponse(pdu, TmfResponse.FunctionComplete);
        },
      },
      { commandTimeoutMs: 300 },
    );
    const events: SessionEvent[] = [];
    session.on((e) => events.push(e));
    const started = Date.now();
    const error = await session.execute({ lun: 2, cdb: TUR }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(error).toBeInstanceOf(IscsiError);
    expect(error).toMatchObject({ code: 'ISCSI_COMMAND_TIMEOUT', message: expect.stringMatching(/aborted/) });

    const command = await c.next(Opcode.ScsiCommand);
    const tmf = await c.next(Opcode.TaskMgmtRequest);
    // §11.5.1: ABORT TASK names the task by its ITT (Referenced Task Tag) and CmdSN (RefCmdSN), on the task's LUN;
    // §11.5: a TMF request is sent as an immediate command carrying the next CmdSN without consuming it.
    expect(tmf).toMatchObject({
      function: 1,
      referencedTaskTag: command.itt,
      refCmdSN: command.cmdSN,
      immediate: true,
      lun: command.lun,
      cmdSN: command.cmdSN + 1,
    });
    expect(events).toContainEqual({ type: 'command-timeout', itt: command.itt, lun: 2, opcode: 0 });
    expect(session.counters.timeouts).toBe(1);

    await expect(session.execute({ lun: 2, cdb: TUR })).resolves.toMatchObject({ status: 0 });
    expect(session.isClosed).toBe(false);
  });

  it('no answer to the ABORT TASK within taskManagementTimeoutMs → the session closes with ISCSI_TMF_TIMEOUT and every command fails', async () => {
    const { session, c } = await setup({}, { commandTimeoutMs: 200, taskManagementTimeoutMs: 300, queueDepth: 2 });
    const closed = nextEvent(session, 'closed');
    const started = Date.now();
    // Two on the wire, one queued behind the queue depth: none may hang.
    const outcomes = await Promise.all([0, 1, 2].map((lun) => session.execute({ lun, cdb: TUR }).catch((e: unknown) => e)));
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(IscsiError);
      // The two on the wire end with the connection (TMF timeout); the queued one may run out its own time first.
      expect(outcome).toMatchObject({ code: expect.stringMatching(/^ISCSI_(TMF|COMMAND)_TIMEOUT$/) });
    }
    expect((await closed).error).toMatchObject({ code: 'ISCSI_TMF_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200 + 300);
    expect(session.isClosed).toBe(true);
    expect(await c.next(Opcode.TaskMgmtRequest)).toMatchObject({ function: 1 });
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toMatchObject({ code: 'ISCSI_TMF_TIMEOUT' });
  });
});

describe('a timed-out command whose ABORT TASK is refused (RFC 7143 §11.6.1)', BOUND, () => {
  // Any TMF answer ends the timed-out command; a refusal also makes its ITT a zombie tag (SessionCore).
  it.each([
    ['task management function not supported', TmfResponse.NotSupported],
    ['function rejected', TmfResponse.Rejected],
  ] as const)('ABORT TASK answered "%s" → the command still fails with ISCSI_COMMAND_TIMEOUT (no hang)', async (_name, response) => {
    const { session } = await setup(
      {
        onPdu(pdu, c) {
          if (pdu.opcode === Opcode.TaskMgmtRequest) c.tmfResponse(pdu, response);
        },
      },
      { commandTimeoutMs: 200 },
    );
    // A hang would run into the test's own bound (BOUND); no wall-clock race of our own.
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toMatchObject({ code: 'ISCSI_COMMAND_TIMEOUT', message: expect.stringMatching(/refused|rejected/) });
  });
});

describe('LUN-wide task management ends the tasks on that LUN only (RFC 7143 §11.5.1, §11.6)', BOUND, () => {
  it.each([
    ['LOGICAL UNIT RESET', 5, (s: IscsiSession) => s.lunReset(1)],
    ['ABORT TASK SET', 2, (s: IscsiSession) => s.abortTaskSet(1)],
  ] as const)('%s completed → the commands on LUN 1 fail with ISCSI_TASK_ABORTED, the one on LUN 2 completes', async (_name, fn, run) => {
    const { session, c } = await setup({
      onPdu(pdu, c) {
        if (pdu.opcode === Opcode.TaskMgmtRequest) c.tmfResponse(pdu, TmfResponse.FunctionComplete);
      },
    });
    const onLun1 = [session.execute({ lun: 1, cdb: read10(1) }), session.execute({ lun: 1, cdb: read10(2) })].map((p) => p.catch((e: unknown) => e));
    const onLun2 = session.execute({ lun: 2, cdb: read10(3) });
    const commands = [await c.next(Opcode.ScsiCommand), await c.next(Opcode.ScsiCommand), await c.next(Opcode.ScsiCommand)];

    // §11.6.1: the target sends no response for the tasks it aborted; the TMF response alone ends them.
    await expect(run(session)).resolves.toBe(TmfResponse.FunctionComplete);
    const tmf = await c.next(Opcode.TaskMgmtRequest);
    expect(tmf).toMatchObject({ function: fn, lun: encodeLun(1), referencedTaskTag: RESERVED_TAG, immediate: true });
    for (const outcome of await Promise.all(onLun1)) {
      expect(outcome).toBeInstanceOf(ScsiError);
      expect(outcome).toMatchObject({ code: 'ISCSI_TASK_ABORTED' });
    }
    expect(session.inFlight).toBe(1);
    c.scsiResponse(commands.find((x) => lbaOf(x) === 3)!);
    await expect(onLun2).resolves.toMatchObject({ status: 0 });
    expect(session.isClosed).toBe(false);
  });
});

describe('queue depth and the command window (RFC 7143 §4.2.2.1)', BOUND, () => {
  it('256 commands in flight at once: all on the wire when the target grants the window (issue 3: "up to at least 256")', async () => {
    const TOTAL = 256;
    let received = 0;
    const { session, c } = await setup(
      {
        window: 300,
        onPdu(pdu, c) {
          if (!isCommand(pdu)) return;
          // Answer nothing until all 256 are outstanding at the target at the same time.
          if (++received === TOTAL) answerAllSoon(c);
        },
      },
      { queueDepth: TOTAL },
    );
    const all = Array.from({ length: TOTAL }, (_, i) => session.execute({ lun: 0, cdb: read10(i) }));
    expect(session.inFlight).toBe(TOTAL);
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 0)).toBe(true);
    expect(c.maxOutstanding).toBe(TOTAL);
  });

  it('queueDepth 4, 20 commands at once → never more than 4 in flight at the target, all complete', async () => {
    const TOTAL = 20;
    const DEPTH = 4;
    let received = 0;
    const { session, c } = await setup(
      {
        window: 64, // the window is not what limits here
        onPdu(pdu, c) {
          if (!isCommand(pdu)) return;
          received++;
          // Hold commands until the initiator has filled its queue depth (or sent everything), then answer the lot.
          if (c.outstanding.size >= DEPTH || received === TOTAL) answerAllSoon(c);
        },
      },
      { queueDepth: DEPTH },
    );
    const all = Array.from({ length: TOTAL }, (_, i) => session.execute({ lun: 0, cdb: read10(i) }));
    expect(session.inFlight).toBe(DEPTH);
    expect(session.queued).toBe(TOTAL - DEPTH);
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 0)).toBe(true);
    expect(c.maxOutstanding).toBe(DEPTH);
    const commands = c.received.filter(isCommand);
    expect(commands.map(lbaOf)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(commands.map((x) => x.cmdSN - commands[0]!.cmdSN)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
  });

  it('a window of one (MaxCmdSN = ExpCmdSN) → one command at a time, all complete in order', async () => {
    const TOTAL = 8;
    const { session, c } = await setup({
      window: 1,
      onPdu(pdu, c) {
        if (isCommand(pdu)) answerAllSoon(c);
      },
    });
    expect(session.numbering.maxCmdSN).toBe(session.numbering.expCmdSN);
    const order: number[] = [];
    const all = Array.from({ length: TOTAL }, (_, i) => session.execute({ lun: 0, cdb: read10(i) }).then((r) => (order.push(i), r)));
    expect(session.inFlight).toBe(1);
    expect(session.queued).toBe(TOTAL - 1);
    await Promise.all(all);
    expect(order).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(c.maxOutstanding).toBe(1);
    expect(c.received.filter(isCommand).map(lbaOf)).toEqual(order);
  });

  it('a closed window (MaxCmdSN = ExpCmdSN - 1) holds commands back; a NOP-In with a larger MaxCmdSN lets them flow', async () => {
    const { session, c } = await setup({
      window: 0,
      onPdu(pdu, c) {
        if (isCommand(pdu)) answerAllSoon(c);
      },
    });
    expect(session.numbering.maxCmdSN).toBe(session.numbering.expCmdSN - 1);
    const all = Array.from({ length: 5 }, (_, i) => session.execute({ lun: 0, cdb: read10(i) }));
    expect(session.inFlight).toBe(0);
    expect(session.queued).toBe(5);

    // §11.19: a NOP-In with a TTT asks for a NOP-Out; the answer comes after the commands were issued, so any command
    // sent in spite of the closed window would have reached the target before it.
    c.nopIn({ ttt: 0x4242, data: Buffer.from('ping') });
    const pong = await c.next(Opcode.NopOut);
    expect(pong).toMatchObject({ ttt: 0x4242, itt: RESERVED_TAG, immediate: true });
    expect(pong.data.toString()).toBe('ping');
    expect(c.received.some(isCommand)).toBe(false);

    c.window = 8;
    c.nopIn(); // unsolicited (ITT and TTT 0xffffffff): it only carries ExpCmdSN/MaxCmdSN
    const results = await Promise.all(all);
    expect(results.every((r) => r.status === 0)).toBe(true);
    expect(c.received.filter(isCommand).map(lbaOf)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('Asynchronous Messages (RFC 7143 §11.9.1)', BOUND, () => {
  it('AsyncEvent 0 with REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh) → a scsi-event with that sense', async () => {
    const { session, c } = await setup();
    const event = nextEvent(session, 'scsi-event');
    c.asyncMessage(0, { lun: 3, sense: fixedSense(SenseKey.UnitAttention, 0x3f, 0x0e) });
    expect(await event).toMatchObject({ lun: 3, sense: { senseKey: SenseKey.UnitAttention, asc: 0x3f, ascq: 0x0e } });
    expect(session.counters.asyncEvents).toBe(1);
  });

  it('AsyncEvent 1 (Parameter3 = 2 s) → logout-requested; the command in flight finishes, then Logout (reason 0) in time', async () => {
    const { session, c } = await setup({
      onPdu(pdu, c) {
        if (pdu.opcode === Opcode.LogoutRequest) c.logoutResponse(pdu);
      },
    });
    const closed = nextEvent(session, 'closed');
    const inFlight = session.execute({ lun: 0, cdb: read10(1) });
    const command = await c.next(Opcode.ScsiCommand);

    const requested = nextEvent(session, 'logout-requested');
    c.asyncMessage(1, { parameter3: 2 });
    expect(await requested).toMatchObject({ withinSeconds: 2 });
    const late = session.execute({ lun: 0, cdb: read10(2) }).catch((e: unknown) => e); // draining: not sent any more
    // A ping round trip while the command is still held: no Logout Request may come before it is answered.
    c.nopIn({ ttt: 0x77 });
    await c.next(Opcode.NopOut);
    expect(c.received.some((p) => p.opcode === Opcode.LogoutRequest)).toBe(false);

    c.scsiResponse(command);
    await expect(inFlight).resolves.toMatchObject({ status: 0 });
    // Right after the last answer; the Parameter3 deadline itself is checked on the fake clock (session-core.test.ts).
    const logout = await c.next(Opcode.LogoutRequest, 2_000);
    expect(logout).toMatchObject({ reasonCode: 0, immediate: true }); // §11.14.1: 0 = close the session
    expect((await closed).error).toBeUndefined();
    expect(session.isClosed).toBe(true);
    expect(await late).toMatchObject({ code: 'ISCSI_SESSION_CLOSED' });
    expect(c.received.filter(isCommand)).toHaveLength(1);
  });

  it.each([
    [2, 'connection'],
    [3, 'session'],
  ] as const)('AsyncEvent %i (Parameter2 Time2Wait, Parameter3 Time2Retain) → connection-drop for the %s', async (asyncEvent, scope) => {
    const { session, c } = await setup();
    const event = nextEvent(session, 'connection-drop');
    c.asyncMessage(asyncEvent, { parameter1: 0, parameter2: 5, parameter3: 20 });
    expect(await event).toEqual({ type: 'connection-drop', scope, time2Wait: 5, time2Retain: 20 });
  });

  it('AsyncEvent 4 → renegotiate, and a Text Request re-declaring MaxRecvDataSegmentLength reaches the target (§13.12)', async () => {
    const { session, c } = await setup({
      onPdu(pdu, c) {
        if (pdu.opcode === Opcode.TextRequest) c.textResponse(pdu, []);
        if (isCommand(pdu)) c.scsiResponse(pdu);
      },
    });
    const event = nextEvent(session, 'renegotiate');
    c.asyncMessage(4);
    await event;
    const text = await c.next(Opcode.TextRequest);
    expect(text).toMatchObject({ immediate: true, final: true, continue: false, ttt: RESERVED_TAG });
    expect(decodeText(text.data)).toEqual([['MaxRecvDataSegmentLength', String(session.parameters.maxRecvDataSegmentLength)]]);
    await expect(session.execute({ lun: 0, cdb: TUR })).resolves.toMatchObject({ status: 0 });
  });
});

describe('Reject (RFC 7143 §11.17)', BOUND, () => {
  it('reason 0x09 (invalid PDU field) carrying one command\'s header → that command fails with ISCSI_REJECT; the other completes', async () => {
    const { session, c } = await setup();
    const rejected = session.execute({ lun: 0, cdb: read10(1) }).catch((e: unknown) => e);
    const other = session.execute({ lun: 0, cdb: read10(2) });
    const first = await c.next(Opcode.ScsiCommand);
    const second = await c.next(Opcode.ScsiCommand);
    c.reject(0x09, first);
    const error = await rejected;
    expect(error).toBeInstanceOf(IscsiError);
    expect(error).toMatchObject({ code: 'ISCSI_REJECT', message: expect.stringMatching(/invalid PDU field/) });
    c.scsiResponse(second);
    await expect(other).resolves.toMatchObject({ status: 0 });
    expect(session.counters.rejects).toBe(1);
    expect(session.isClosed).toBe(false);
  });
});

describe('command(): BUSY, TASK SET FULL and UNIT ATTENTION are retried (SAM-5 §5.3)', BOUND, () => {
  it.each([
    ['BUSY', 0x08],
    ['TASK SET FULL', 0x28],
  ] as const)('%s twice, then GOOD → resolves GOOD after 2 retries', async (_name, status) => {
    let n = 0;
    const { session } = await setup({
      onPdu(pdu, c) {
        if (isCommand(pdu)) c.scsiResponse(pdu, { status: ++n <= 2 ? status : 0 });
      },
    });
    await expect(session.command({ lun: 0, cdb: TUR })).resolves.toMatchObject({ status: 0 });
    expect(session.counters.busyRetries).toBe(2);
    expect(n).toBe(3);
  });

  it('more BUSY answers than busyRetries → ScsiError ISCSI_SCSI_STATUS with status 0x08', async () => {
    let n = 0;
    const { session } = await setup(
      {
        onPdu(pdu, c) {
          if (isCommand(pdu)) c.scsiResponse(pdu, { status: (n++, 0x08) });
        },
      },
      { busyRetries: 2 },
    );
    const error = await session.command({ lun: 0, cdb: TUR }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScsiError);
    expect(error).toMatchObject({ code: 'ISCSI_SCSI_STATUS', status: 0x08 });
    expect(n).toBe(3); // the first try and two retries
  });

  it('UNIT ATTENTION (POWER ON, RESET 29h/00h) once, then GOOD → resolves, and a unit-attention event is emitted', async () => {
    let n = 0;
    const { session } = await setup({
      onPdu(pdu, c) {
        if (!isCommand(pdu)) return;
        if (n++ === 0) c.scsiResponse(pdu, { status: 0x02, sense: fixedSense(SenseKey.UnitAttention, 0x29, 0x00) });
        else c.scsiResponse(pdu);
      },
    });
    const attention = nextEvent(session, 'unit-attention');
    await expect(session.command({ lun: 4, cdb: TUR })).resolves.toMatchObject({ status: 0 });
    expect(await attention).toMatchObject({ lun: 4, sense: { senseKey: SenseKey.UnitAttention, asc: 0x29, ascq: 0x00 } });
    expect(session.counters.unitAttentions).toBe(1);
    expect(n).toBe(2);
  });
});

describe('a Data-In with a wrong DataSN (RFC 7143 §11.7.5)', BOUND, () => {
  it('closes the session with ProtocolError ISCSI_PDU_BAD_FIELD and fails the command; the process stays up', async () => {
    const { session } = await setup({
      onPdu(pdu, c) {
        if (!isCommand(pdu)) return;
        c.dataIn(pdu, Buffer.alloc(512, 1));
        c.dataIn(pdu, Buffer.alloc(512, 2), { dataSN: 5, status: 0 }); // DataSN 1 expected
      },
    });
    const closed = nextEvent(session, 'closed');
    const error = await session.execute({ lun: 0, cdb: read10(0), readLength: 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'ISCSI_PDU_BAD_FIELD' });
    expect((await closed).error).toBe(error);
    expect(session.isClosed).toBe(true);
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toMatchObject({ code: 'ISCSI_PDU_BAD_FIELD' });
  });
});

describe('the scripted target itself: a normal data path with negotiated digests and limits', BOUND, () => {
  it('InitialR2T=Yes, ImmediateData=No, CRC32C digests: a write answered by R2Ts and a read by Data-In arrive intact', async () => {
    const written: Buffer[] = [];
    const MAX_RECV = 4096;
    const { session, c } = await setup(
      {
        maxRecvDataSegmentLength: MAX_RECV,
        keys: { InitialR2T: 'Yes', ImmediateData: 'No', MaxBurstLength: '16384', FirstBurstLength: '8192' },
        onPdu(pdu, c) {
          if (isCommand(pdu) && pdu.write) {
            // §11.8.4: ask for the data in bursts of at most MaxBurstLength.
            for (let at = 0; at < pdu.expectedDataTransferLength; at += 16384) {
              c.r2t(pdu, { bufferOffset: at, desiredDataTransferLength: Math.min(16384, pdu.expectedDataTransferLength - at) });
            }
          } else if (isCommand(pdu)) {
            const data = Buffer.from(Array.from({ length: pdu.expectedDataTransferLength }, (_, i) => i % 253));
            c.dataIn(pdu, data.subarray(0, 3000));
            c.dataIn(pdu, data.subarray(3000), { status: 0 });
          } else if (pdu.opcode === Opcode.DataOut) {
            expect(pdu.data.length).toBeLessThanOrEqual(MAX_RECV);
            written[pdu.bufferOffset / MAX_RECV] = Buffer.from(pdu.data);
            const command = [...c.outstanding.values()].find((x) => x.itt === pdu.itt)!;
            if (written.filter(Boolean).length * MAX_RECV >= command.expectedDataTransferLength) c.scsiResponse(command);
          }
        },
      },
      { proposal: { headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] } },
    );
    expect(session.parameters).toMatchObject({ headerDigest: true, dataDigest: true, initialR2T: true, immediateData: false, maxXmitDataSegmentLength: MAX_RECV });
    expect(c.digests).toEqual({ headerDigest: true, dataDigest: true });

    const payload = Buffer.from(Array.from({ length: 40960 }, (_, i) => (i * 7) % 256));
    const write = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 80, 0]);
    await expect(session.execute({ lun: 1, cdb: write, writeData: payload })).resolves.toMatchObject({ status: 0 });
    expect(Buffer.concat(written).equals(payload)).toBe(true);

    const read = await session.execute({ lun: 1, cdb: read10(0), readLength: 8000 });
    expect(read.status).toBe(0);
    expect(read.data.equals(Buffer.from(Array.from({ length: 8000 }, (_, i) => i % 253)))).toBe(true);
    expect(session.counters).toMatchObject({ bytesWritten: 40960, bytesRead: 8000 });
  });
});
