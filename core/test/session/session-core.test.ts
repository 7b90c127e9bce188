// SessionCore without sockets or timers: a scripted target (harness.ts) answers with PDUs, a fake clock drives every
// timeout through tick(now). Each test names the rule it checks.
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { Opcode, RESERVED_TAG, type DataOut, type ScsiCommand } from '../../src/pdu/types.js';
import { TmfFunction, TmfResponse } from '../../src/session/task-management.js';
import { lbaOf, outcome, read10, Scene, TUR } from './harness.js';

const lost = () => new TransportError('ISCSI_CONNECTION_CLOSED', 'connection reset by the target');

describe('command window (RFC 7143 §4.2.2.1, RFC 1982 serial arithmetic)', () => {
  it('"CmdSN ... MUST NOT be sent beyond MaxCmdSN": a window of one sends one command; the response opens the next', async () => {
    const s = new Scene();
    const c = s.connect({ window: 1 });
    const results = [0, 1, 2].map((lba) => s.core.execute({ lun: 0, cdb: read10(lba) }));
    expect(c.commands().map(lbaOf)).toEqual([0]);
    expect([s.core.inFlight, s.core.queued]).toEqual([1, 2]);
    c.respond(c.commands()[0]!);
    expect(c.commands().map(lbaOf)).toEqual([0, 1]);
    c.respond(c.commands()[1]!);
    c.respond(c.commands()[2]!);
    for (const r of results) expect(await outcome(r)).toMatchObject({ state: 'resolved', value: { status: 0 } });
  });

  it('"MaxCmdSN = ExpCmdSN - 1" closes the window: nothing is sent until a PDU opens it (§4.2.2.1)', () => {
    const s = new Scene();
    const c = s.connect({ window: 0 });
    for (let i = 0; i < 3; i++) void s.core.execute({ lun: 0, cdb: read10(i) });
    expect(c.commands()).toHaveLength(0);
    c.window(1, 2); // a NOP-In with MaxCmdSN two ahead
    expect(c.commands().map((x) => x.cmdSN)).toEqual([1, 2]);
  });

  it('CmdSN wraps from 2^32-1 to 0 and the window across the wrap stays open (RFC 1982 §3.1)', () => {
    const s = new Scene();
    const c = s.connect({ cmdSN: 0xfffffffe, window: 4 });
    for (let i = 0; i < 5; i++) void s.core.execute({ lun: 0, cdb: read10(i) });
    expect(c.commands().map((x) => x.cmdSN)).toEqual([0xfffffffe, 0xffffffff, 0, 1]);
    expect(s.core.queued).toBe(1);
    c.respond(c.commands()[0]!);
    expect(c.commands().at(-1)!.cmdSN).toBe(2);
  });
});

describe('queue depth and back-pressure (open-iscsi node.session.queue_depth)', () => {
  it('never more than queueDepth on the wire; the rest wait in order and go as slots free', async () => {
    const s = new Scene({ queueDepth: 2 });
    const c = s.connect();
    const results = [0, 1, 2, 3, 4].map((lba) => s.core.execute({ lun: 0, cdb: read10(lba) }));
    expect([s.core.inFlight, s.core.queued, s.core.outstanding]).toEqual([2, 3, 5]);
    c.respond(c.commands()[1]!);
    expect(c.commands().map(lbaOf)).toEqual([0, 1, 2]);
    expect(s.core.inFlight).toBe(2);
    for (const i of [0, 2, 3, 4]) {
      c.respond(c.commands()[i]!);
      expect(s.core.inFlight).toBeLessThanOrEqual(2);
    }
    expect(c.commands().map(lbaOf)).toEqual([0, 1, 2, 3, 4]);
    for (const r of results) expect((await outcome(r)).state).toBe('resolved');
  });
});

describe('timeouts, one error code each, driven by tick(now)', () => {
  it('command timeout: ABORT TASK for it (§11.5.1: Referenced Task Tag = its ITT, RefCmdSN = its CmdSN), then ISCSI_COMMAND_TIMEOUT', async () => {
    const s = new Scene({ commandTimeoutMs: 1000 });
    const c = s.connect();
    const result = s.core.execute({ lun: 3, cdb: TUR });
    const command = c.commands()[0]!;
    s.advance(999);
    expect(c.tmfs()).toHaveLength(0);
    s.advance(1);
    const tmf = c.tmfs()[0]!;
    expect(tmf).toMatchObject({ function: TmfFunction.AbortTask, referencedTaskTag: command.itt, refCmdSN: command.cmdSN, immediate: true });
    expect(s.events).toContainEqual({ type: 'command-timeout', itt: command.itt, lun: 3, opcode: 0 });
    c.tmfResponse(tmf, TmfResponse.FunctionComplete);
    expect(await outcome(result)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_COMMAND_TIMEOUT' } });
    expect(s.core.counters.timeouts).toBe(1);
  });

  it('a command the window never lets out fails with ISCSI_COMMAND_TIMEOUT and was never sent', async () => {
    const s = new Scene({ commandTimeoutMs: 500 });
    const c = s.connect({ window: 0 });
    const result = s.core.execute({ lun: 0, cdb: TUR });
    s.advance(500);
    expect(await outcome(result)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_COMMAND_TIMEOUT', message: expect.stringMatching(/never sent/) } });
    expect(c.commands()).toHaveLength(0);
  });

  it('task management timeout: ISCSI_TMF_TIMEOUT and the connection is given up; the command goes to the next one', async () => {
    const s = new Scene({ commandTimeoutMs: 0, taskManagementTimeoutMs: 300 });
    const c = s.connect();
    const command = s.core.execute({ lun: 1, cdb: read10(7) });
    const reset = s.core.taskManagement(TmfFunction.LogicalUnitReset, 1);
    s.advance(300);
    expect(await outcome(reset)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_TMF_TIMEOUT' } });
    expect(c.closed?.error?.code).toBe('ISCSI_TMF_TIMEOUT');
    expect(s.core.state).toBe('recovering');
    const next = s.connect();
    expect(next.commands().map(lbaOf)).toEqual([7]);
    next.respond(next.commands()[0]!);
    expect((await outcome(command)).state).toBe('resolved');
  });

  it('NOP-Out ping after noop_out_interval of silence (§11.18: ITT set, TTT reserved, immediate); answered, it is quiet', () => {
    const s = new Scene({ noopOutIntervalMs: 5000, noopOutTimeoutMs: 5000 });
    const c = s.connect();
    s.advance(4999);
    expect(c.nopOuts()).toHaveLength(0);
    s.advance(1);
    const ping = c.nopOuts()[0]!;
    expect(ping).toMatchObject({ ttt: RESERVED_TAG, immediate: true });
    expect(ping.itt).not.toBe(RESERVED_TAG);
    c.nopIn(ping.itt); // §11.19: the NOP-In answering a ping carries its ITT
    s.advance(5000);
    expect(c.closed).toBeUndefined();
  });

  it('an unanswered ping fails the connection with ISCSI_NOP_TIMEOUT after noop_out_timeout', () => {
    const s = new Scene({ noopOutIntervalMs: 5000, noopOutTimeoutMs: 2000 });
    const c = s.connect();
    s.advance(5000);
    expect(c.nopOuts()).toHaveLength(1);
    s.advance(1999);
    expect(c.closed).toBeUndefined();
    s.advance(1);
    expect(c.closed?.error?.code).toBe('ISCSI_NOP_TIMEOUT');
    expect(s.core.counters.timeouts).toBe(1);
  });

  it('issue 12: before sleep the pings pause (a ping in flight is forgotten, none times out); after wake one goes out at once', () => {
    const s = new Scene({ noopOutIntervalMs: 5000, noopOutTimeoutMs: 2000 });
    const c = s.connect();
    s.advance(5000);
    expect(c.nopOuts()).toHaveLength(1); // a ping is in flight when the host goes to sleep
    s.core.pauseKeepAlive();
    expect(s.core.keepAlivePaused).toBe(true);
    s.advance(60_000); // asleep: neither a timeout nor a new ping
    expect(c.closed).toBeUndefined();
    expect(c.nopOuts()).toHaveLength(1);
    s.core.resumeKeepAlive(s.now);
    expect(s.core.keepAlivePaused).toBe(false);
    s.advance(0); // "after wake, check every connection": the first tick pings
    expect(c.nopOuts()).toHaveLength(2);
    s.advance(1999);
    expect(c.closed).toBeUndefined();
    s.advance(1); // a connection that died in the sleep fails within noop_out_timeout, and recovery starts
    expect(c.closed?.error?.code).toBe('ISCSI_NOP_TIMEOUT');
  });

  it('a target ping (§11.19: NOP-In with a TTT) is answered by a NOP-Out echoing TTT and data, ITT reserved', () => {
    const s = new Scene();
    const c = s.connect();
    c.nopIn(RESERVED_TAG, 0x1234, Buffer.from('ping'));
    expect(c.last()).toMatchObject({ opcode: Opcode.NopOut, itt: RESERVED_TAG, ttt: 0x1234, immediate: true, data: Buffer.from('ping') });
    expect(s.core.counters.nopInAnswered).toBe(1);
  });

  it('logout: no Logout Response within the logout timeout → ISCSI_LOGOUT_TIMEOUT and the connection is ended', async () => {
    const s = new Scene({ logoutTimeoutMs: 1000, reconnect: false });
    const c = s.connect();
    const done = s.core.logout();
    expect(c.last()).toMatchObject({ opcode: Opcode.LogoutRequest, reasonCode: 0, immediate: true });
    s.advance(1000);
    expect(await outcome(done)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_LOGOUT_TIMEOUT' } });
    expect(c.closed?.error?.code).toBe('ISCSI_LOGOUT_TIMEOUT');
  });

  it('logout handshake (§11.14, §11.15.1): response 0 resolves it', async () => {
    const s = new Scene();
    const c = s.connect();
    const done = s.core.logout();
    c.logoutResponse(c.last().opcode === Opcode.LogoutRequest ? (c.last() as { itt: number }).itt : -1);
    expect((await outcome(done)).state).toBe('resolved');
  });

  it('replacement_timeout: commands waiting for a connection fail with ISCSI_REPLACEMENT_TIMEOUT, new ones fail fast, a new connection clears it', async () => {
    const s = new Scene({ replacementTimeoutMs: 10_000 });
    const c = s.connect();
    const waiting = s.core.execute({ lun: 0, cdb: read10(1) });
    expect(c.commands()).toHaveLength(1);
    s.advance(1000);
    expect(s.lose(lost())).toBe('reconnect');
    s.advance(9999);
    expect((await outcome(waiting)).state).toBe('pending');
    s.advance(1);
    expect(await outcome(waiting)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_REPLACEMENT_TIMEOUT' } });
    expect(await outcome(s.core.execute({ lun: 0, cdb: TUR }))).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_REPLACEMENT_TIMEOUT' } });
    const next = s.connect();
    const fresh = s.core.execute({ lun: 0, cdb: TUR });
    next.respond(next.commands()[0]!);
    expect((await outcome(fresh)).state).toBe('resolved');
  });
});

describe('one task by the caller\'s tag (the HBA bridge\'s driver tags)', () => {
  it('ABORT TASK names the tagged command (§11.5.1); its state goes in-flight → aborting → done; it fails ISCSI_TASK_ABORTED', async () => {
    const s = new Scene();
    const c = s.connect();
    const other = s.core.execute({ lun: 0, cdb: read10(1) }, 41);
    const target = s.core.execute({ lun: 0, cdb: read10(2) }, 42);
    expect(s.core.taskState(42)).toBe('in-flight');
    const aborted = s.core.abort(42);
    const tmf = c.tmfs()[0]!;
    expect(tmf).toMatchObject({ function: TmfFunction.AbortTask, referencedTaskTag: c.commands()[1]!.itt, refCmdSN: c.commands()[1]!.cmdSN });
    expect(s.core.taskState(42)).toBe('aborting');
    c.tmfResponse(tmf, TmfResponse.FunctionComplete);
    expect(await outcome(aborted)).toEqual({ state: 'resolved', value: 0 });
    expect(await outcome(target)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_TASK_ABORTED' } });
    expect(s.core.taskState(42)).toBe('done');
    expect(s.core.taskState(41)).toBe('in-flight');
    c.respond(c.commands()[0]!);
    expect((await outcome(other)).state).toBe('resolved');
  });

  it('a tagged command still queued is taken out without a TMF; a duplicate outstanding tag is refused', async () => {
    const s = new Scene({ queueDepth: 1 });
    const c = s.connect();
    void s.core.execute({ lun: 0, cdb: read10(1) }, 1);
    const queued = s.core.execute({ lun: 0, cdb: read10(2) }, 2);
    expect(s.core.taskState(2)).toBe('queued');
    expect(await outcome(s.core.execute({ lun: 0, cdb: TUR }, 2))).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_BAD_ARGUMENT' } });
    expect(await outcome(s.core.abort(2))).toEqual({ state: 'resolved', value: 0 });
    expect(await outcome(queued)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_TASK_ABORTED' } });
    expect(c.tmfs()).toHaveLength(0);
    expect(s.core.queued).toBe(0);
  });

  it('a refused ABORT TASK (§11.6.1 response 5) leaves a zombie tag: its late PDUs are dropped and the ITT is never handed out again', async () => {
    const s = new Scene();
    const c = s.connect();
    const result = s.core.execute({ lun: 0, cdb: read10(9) }, 7);
    const zombie = c.commands()[0]!;
    void s.core.abort(7);
    c.tmfResponse(c.tmfs()[0]!, TmfResponse.NotSupported);
    expect(await outcome(result)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_TASK_ABORTED', message: expect.stringMatching(/refused/) } });
    // The allocator comes round to the zombie's ITT: it is skipped.
    s.core.seekItt(zombie.itt);
    void s.core.execute({ lun: 0, cdb: TUR });
    expect(c.commands()[1]!.itt).not.toBe(zombie.itt);
    // The target still answers the zombie: dropped, not a protocol error; its final response retires the tag.
    c.respond(zombie);
    expect(c.closed).toBeUndefined();
    s.core.seekItt(zombie.itt);
    void s.core.execute({ lun: 0, cdb: TUR });
    expect(c.commands()[2]!.itt).toBe(zombie.itt);
  });
});

describe('task management scope (§11.5.1)', () => {
  it('LOGICAL UNIT RESET complete: the commands on that LUN end ISCSI_TASK_ABORTED (the target answers none); another LUN\'s command lives on', async () => {
    const s = new Scene();
    const c = s.connect();
    const onLun1 = [s.core.execute({ lun: 1, cdb: read10(1) }), s.core.execute({ lun: 1, cdb: read10(2) })];
    const onLun2 = s.core.execute({ lun: 2, cdb: read10(3) });
    const reset = s.core.taskManagement(TmfFunction.LogicalUnitReset, 1);
    c.tmfResponse(c.tmfs()[0]!, TmfResponse.FunctionComplete);
    expect(await outcome(reset)).toEqual({ state: 'resolved', value: 0 });
    for (const r of onLun1) expect(await outcome(r)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_TASK_ABORTED' } });
    expect((await outcome(onLun2)).state).toBe('pending');
    c.respond(c.commands()[2]!);
    expect((await outcome(onLun2)).state).toBe('resolved');
  });
});

describe('recovery (§6.3.5 session reinstatement, ERL 0): one queue across connections', () => {
  it('unfinished commands are re-issued in their original order with fresh ITTs and CmdSNs; only a live connection completes them', async () => {
    const s = new Scene({ queueDepth: 2 });
    const c1 = s.connect();
    const results = [0, 1, 2, 3].map((lba) => s.core.execute({ lun: 0, cdb: read10(lba) }));
    c1.respond(c1.commands()[1]!); // LBA 1 completes; 2 goes out; 0 and 2 on the wire, 3 waiting
    expect(c1.commands().map(lbaOf)).toEqual([0, 1, 2]);
    s.lose(lost());
    expect([s.core.inFlight, s.core.queued]).toEqual([0, 3]);
    const c2 = s.connect({ cmdSN: 500 });
    expect(c2.commands().map(lbaOf)).toEqual([0, 2]);
    expect(c2.commands().map((x) => x.cmdSN)).toEqual([500, 501]);
    const oldItts = new Set(c1.commands().map((x) => x.itt));
    for (const x of c2.commands()) expect(oldItts.has(x.itt)).toBe(false);
    for (const x of [...c2.commands()]) c2.respond(x);
    c2.respond(c2.commands()[2]!);
    expect(c2.commands().map(lbaOf)).toEqual([0, 2, 3]);
    for (const r of results) expect((await outcome(r)).state).toBe('resolved');
    expect(s.core.counters).toMatchObject({ commands: 4, reconnects: 1, retriedCommands: 3, connectionFailures: 1 });
  });

  it('counters are one set across reconnects: commands, bytes, reconnects and the time spent without a connection', async () => {
    const s = new Scene();
    const c1 = s.connect();
    const read = s.core.execute({ lun: 0, cdb: read10(0), readLength: 512 });
    c1.dataInWithStatus(c1.commands()[0]!, Buffer.alloc(512, 1));
    await outcome(read);
    s.advance(100);
    s.lose(lost());
    s.advance(2500);
    const c2 = s.connect();
    const write = s.core.execute({ lun: 0, cdb: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]), writeData: Buffer.alloc(512, 2) });
    c2.respond(c2.commands()[0]!);
    await outcome(write);
    expect(s.core.counters).toMatchObject({ commands: 2, bytesRead: 512, bytesWritten: 512, reconnects: 1, connectionFailures: 1, recoveryMs: 2500 });
  });

  it('TMFs, text and a ping belong to their connection: they fail with the loss, commands wait for the next', async () => {
    const s = new Scene();
    s.connect();
    const command = s.core.execute({ lun: 0, cdb: TUR });
    const tmf = s.core.taskManagement(TmfFunction.AbortTaskSet, 0);
    const text = s.core.textRequest([['SendTargets', 'All']]);
    s.lose(lost());
    expect(await outcome(tmf)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_CONNECTION_CLOSED' } });
    expect(await outcome(text)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_CONNECTION_CLOSED' } });
    expect((await outcome(command)).state).toBe('pending');
    expect(s.core.taskState(0)).toBe('done');
  });

  it('with reconnect: false the loss ends the session: everything fails with the connection\'s error and a closed event', async () => {
    const s = new Scene({ reconnect: false });
    s.connect();
    const command = s.core.execute({ lun: 0, cdb: TUR });
    const error = lost();
    expect(s.lose(error)).toBe('ended');
    expect(await outcome(command)).toEqual({ state: 'rejected', error });
    expect(s.events.at(-1)).toEqual({ type: 'closed', error });
    expect(s.core.isClosed).toBe(true);
  });
});

describe('recovery must make progress (issue 9: a target that resets on the first command after every login)', () => {
  it('after maxReloginsWithoutProgress re-logins in which no command completed, the commands fail ISCSI_RECOVERY_NO_PROGRESS', async () => {
    const s = new Scene({ replacementTimeoutMs: -1, maxReloginsWithoutProgress: 3 });
    s.connect();
    const result = s.core.execute({ lun: 0, cdb: read10(5) });
    s.lose(lost()); // the first login is not a re-login: no strike
    const delays = [s.core.reconnectDelay()];
    for (let relogin = 1; relogin <= 3; relogin++) {
      s.connect();
      s.lose(lost()); // the first command on the connection resets it
      expect(s.core.reloginsWithoutProgress).toBe(relogin);
      expect((await outcome(result)).state).toBe('pending');
      delays.push(s.core.reconnectDelay());
    }
    s.connect();
    s.lose(lost()); // the 4th re-login without progress passes the bound of 3
    expect(await outcome(result)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_RECOVERY_NO_PROGRESS', hint: expect.any(String) } });
    expect(s.core.counters.noProgressFailures).toBe(1);
    // A login alone is no progress: the backoff keeps growing instead of restarting at each successful login.
    expect(delays).toEqual([100, 200, 400, 800]);
  });

  it('a completed command is progress: the count starts again', async () => {
    const s = new Scene({ replacementTimeoutMs: -1, maxReloginsWithoutProgress: 1 });
    s.connect();
    const first = s.core.execute({ lun: 0, cdb: read10(1) });
    s.lose(lost());
    s.connect();
    s.lose(lost());
    expect(s.core.reloginsWithoutProgress).toBe(1);
    const c = s.connect();
    c.respond(c.commands()[0]!);
    expect((await outcome(first)).state).toBe('resolved');
    const second = s.core.execute({ lun: 0, cdb: read10(2) });
    s.lose(lost());
    // That connection completed a command before it was lost: no strike, so the bound of 1 is not passed.
    expect((await outcome(second)).state).toBe('pending');
    expect(s.core.reloginsWithoutProgress).toBe(0);
  });

  it('replacement_timeout runs from when a command first lost its connection; a login without progress does not restart it', async () => {
    const s = new Scene({ replacementTimeoutMs: 10_000, maxReloginsWithoutProgress: -1 });
    s.connect();
    const result = s.core.execute({ lun: 0, cdb: read10(5) });
    s.lose(lost()); // t = 0
    for (let t = 0; t < 3; t++) {
      s.advance(3000);
      s.connect();
      s.lose(lost());
    } // t = 9000: each login lived, each lost before the command completed
    s.advance(999);
    expect((await outcome(result)).state).toBe('pending');
    s.advance(1);
    expect(await outcome(result)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_REPLACEMENT_TIMEOUT' } });
  });
});

describe('replacement_timeout after progress', () => {
  it('a connection on which commands completed gives the commands still waiting a fresh replacement_timeout', async () => {
    const s = new Scene({ replacementTimeoutMs: 10_000, maxReloginsWithoutProgress: -1 });
    s.connect();
    const slow = s.core.execute({ lun: 0, cdb: read10(1) });
    s.lose(lost()); // t = 0: the slow command's clock starts
    s.advance(6000);
    const c = s.connect();
    const quick = s.core.execute({ lun: 0, cdb: read10(2) });
    c.respond(c.commands()[1]!); // progress on this connection
    expect((await outcome(quick)).state).toBe('resolved');
    s.lose(lost()); // t = 6000: progress was made, so the slow command waits another 10 s from here
    s.advance(9999);
    expect((await outcome(slow)).state).toBe('pending');
    s.advance(1);
    expect(await outcome(slow)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_REPLACEMENT_TIMEOUT' } });
  });
});

describe('text exchange (§11.10, §11.11)', () => {
  it('a response with C=1 is answered by an empty Text Request carrying its TTT until the final one; the parts join', async () => {
    const s = new Scene();
    const c = s.connect();
    const result = s.core.textRequest([['SendTargets', 'All']]);
    const request = c.texts()[0]!;
    expect(request).toMatchObject({ immediate: true, final: true, ttt: RESERVED_TAG });
    c.textResponse(request, 'TargetName=iqn.2026-11.test:a\0TargetAddr', true, 0x77);
    const follow = c.texts()[1]!;
    expect(follow).toMatchObject({ itt: request.itt, ttt: 0x77, data: Buffer.alloc(0) });
    c.textResponse(follow, 'ess=10.0.0.1:3260,1\0', false);
    expect(await outcome(result)).toEqual({
      state: 'resolved',
      value: [
        ['TargetName', 'iqn.2026-11.test:a'],
        ['TargetAddress', '10.0.0.1:3260,1'],
      ],
    });
  });
});

describe('R2T and Data-Out scheduling (§11.8, §13.11 ImmediateData, §13.12 MaxRecvDataSegmentLength)', () => {
  it('immediate data up to the target\'s segment length, then each R2T answered by Data-Outs carrying its TTT, DataSN from 0', async () => {
    const s = new Scene();
    const c = s.connect({ parameters: { immediateData: true, initialR2T: true, maxXmitDataSegmentLength: 8192 } });
    const data = Buffer.alloc(20_000, 7);
    const write = s.core.execute({ lun: 0, cdb: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 40, 0]), writeData: data });
    const command = c.commands()[0]!;
    expect(command.data.length).toBe(8192);
    c.r2t(command, 8192, 20_000 - 8192, 0, 0xabc);
    const out = c.sent.filter((p): p is DataOut => p.opcode === Opcode.DataOut);
    expect(out.map((d) => [d.ttt, d.dataSN, d.bufferOffset, d.data.length, d.final])).toEqual([
      [0xabc, 0, 8192, 8192, false],
      [0xabc, 1, 16384, 20_000 - 16384, true],
    ]);
    c.respond(command);
    expect((await outcome(write)).state).toBe('resolved');
    expect(s.core.counters.bytesWritten).toBe(20_000);
  });
});

describe('Reject routing (§11.17.1)', () => {
  it('a rejected Data-Out does not end its task: the target answers the command, which completes', async () => {
    const s = new Scene();
    const c = s.connect({ parameters: { immediateData: false } });
    const write = s.core.execute({ lun: 0, cdb: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]), writeData: Buffer.alloc(512) });
    const command = c.commands()[0]!;
    c.r2t(command, 0, 512);
    const dataOut = c.sent.find((p): p is DataOut => p.opcode === Opcode.DataOut)!;
    c.reject({ opcode: Opcode.DataOut, itt: dataOut.itt }, 0x02);
    expect((await outcome(write)).state).toBe('pending');
    c.respond(command);
    expect((await outcome(write)).state).toBe('resolved');
    expect(s.core.counters.rejects).toBe(1);
  });

  it('a rejected SCSI Command ends that command with ISCSI_REJECT; the other one completes', async () => {
    const s = new Scene();
    const c = s.connect();
    const rejected = s.core.execute({ lun: 0, cdb: read10(1) });
    const fine = s.core.execute({ lun: 0, cdb: read10(2) });
    const [a, b] = c.commands() as [ScsiCommand, ScsiCommand];
    c.reject({ opcode: Opcode.ScsiCommand, itt: a.itt });
    c.respond(b);
    expect(await outcome(rejected)).toMatchObject({ state: 'rejected', error: { code: 'ISCSI_REJECT' } });
    expect((await outcome(fine)).state).toBe('resolved');
  });
});

describe('async events (§11.9.1)', () => {
  it('AsyncEvent 1 (logout requested): nothing new starts, what is in flight finishes, then a Logout Request goes out', async () => {
    const s = new Scene();
    const c = s.connect();
    const inFlight = s.core.execute({ lun: 0, cdb: read10(1) });
    c.asyncEvent(1, 0, 10);
    const later = s.core.execute({ lun: 0, cdb: read10(2) });
    expect(c.commands()).toHaveLength(1);
    expect(c.sent.some((p) => p.opcode === Opcode.LogoutRequest)).toBe(false);
    c.respond(c.commands()[0]!);
    expect((await outcome(inFlight)).state).toBe('resolved');
    const logout = c.last();
    expect(logout).toMatchObject({ opcode: Opcode.LogoutRequest, reasonCode: 0 });
    c.logoutResponse((logout as { itt: number }).itt);
    await outcome(Promise.resolve());
    // The connection then ends cleanly and the session logs in again; the queued command goes on the next one.
    expect(c.closed).toEqual({ error: undefined });
    expect(s.core.state).toBe('recovering');
    const next = s.connect();
    expect(next.commands().map(lbaOf)).toEqual([2]);
    next.respond(next.commands()[0]!);
    expect((await outcome(later)).state).toBe('resolved');
  });

  it('AsyncEvent 1 "logout within Parameter3 seconds": a command that never answers does not hold the Logout Request past the deadline', () => {
    const s = new Scene({ commandTimeoutMs: 0 });
    const c = s.connect();
    void s.core.execute({ lun: 0, cdb: read10(1) });
    c.asyncEvent(1, 0, 2);
    const isLogout = () => c.sent.some((p) => p.opcode === Opcode.LogoutRequest);
    s.advance(1499); // half a second of margin before the target's 2 s
    expect(isLogout()).toBe(false);
    s.advance(1);
    expect(isLogout()).toBe(true);
  });

  it('AsyncEvent 2 (connection will drop) carries Time2Wait: the next reconnect waits at least that long', () => {
    const s = new Scene();
    const c = s.connect();
    c.asyncEvent(2, 7, 0);
    s.lose(lost());
    expect(s.core.reconnectDelay()).toBe(7000);
  });
});
