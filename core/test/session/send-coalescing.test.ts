// Send coalescing (core/src/session/send-coalescing.ts) on the scripted target and fake clock of harness.ts: while the
// target holds at least half the queue depth of our commands, new commands wait for up to a quarter of it and leave
// together; the wire order is always the order of the calls, and nothing waits past a tick.
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { Opcode, type InitiatorPdu } from '../../src/pdu/types.js';
import { sendCoalescingFor } from '../../src/session/send-coalescing.js';
import { lbaOf, outcome, read10, Scene } from './harness.js';

const QD = 32; // lowWater 16, batch 8

/** A session at queue depth 32 with `n` READs on the wire (LBA 0..n-1), none answered. */
function loaded(n: number, options: { coalesce?: boolean; queueDepth?: number } = {}) {
  const s = new Scene({ queueDepth: options.queueDepth ?? QD, coalesce: options.coalesce ?? true });
  const c = s.connect({ window: 256 });
  const results = Array.from({ length: n }, (_, lba) => s.core.execute({ lun: 0, cdb: read10(lba) }));
  return { s, c, results };
}

const cmdSNs = (pdus: readonly InitiatorPdu[]) => pdus.filter((p) => p.opcode === Opcode.ScsiCommand).map((p) => (p as { cmdSN: number }).cmdSN);

describe('send coalescing at deep queues', () => {
  it('the policy: none below queue depth 8; otherwise hold while half the queue is at the target, a quarter at a time', () => {
    expect(sendCoalescingFor(4)).toBeUndefined();
    expect(sendCoalescingFor(8)).toEqual({ lowWater: 4, batch: 2 });
    expect(sendCoalescingFor(32)).toEqual({ lowWater: 16, batch: 8 });
  });

  it('a burst sends at once what keeps the target below half the queue, holds the next quarter, and the one after sends them all', () => {
    const { c } = loaded(16);
    expect(c.commands()).toHaveLength(16); // the target had fewer than 16: nothing held
    const s2 = loaded(24);
    expect(s2.c.commands()).toHaveLength(16); // 8 held: the target still has 16 to work on
    expect(s2.s.core.inFlight).toBe(24); // held commands count as started (ITT and CmdSN taken)
    void s2.s.core.execute({ lun: 0, cdb: read10(24) });
    // "CmdSN ... is incremented by 1 for every non-immediate command" (RFC 7143 §4.2.2.1): the batch leaves in CmdSN order.
    expect(cmdSNs(s2.c.sent)).toEqual(Array.from({ length: 25 }, (_, i) => 1 + i));
  });

  it('a completion that leaves the target fewer than half the queue releases what is held, in order', async () => {
    const { s, c, results } = loaded(20);
    expect(c.commands()).toHaveLength(16);
    c.respond(c.commands()[0]!); // 15 at the target now
    expect(c.commands().map(lbaOf)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await outcome(results[0]!)).state).toBe('resolved');
    expect(s.core.inFlight).toBe(19);
  });

  it('any other PDU sends the held commands first: a text request goes out after them (wire order = call order)', () => {
    const { s, c } = loaded(20);
    void s.core.textRequest([['SendTargets', 'All']]);
    const opcodes = c.sent.map((p) => p.opcode);
    expect(opcodes.slice(16, 20)).toEqual([Opcode.ScsiCommand, Opcode.ScsiCommand, Opcode.ScsiCommand, Opcode.ScsiCommand]);
    expect(opcodes.at(-1)).toBe(Opcode.TextRequest);
  });

  it('an ABORT TASK for a held command leaves after the command it names (§11.5.1: the task must exist at the target)', () => {
    const s = new Scene({ queueDepth: QD, coalesce: true });
    const c = s.connect({ window: 256 });
    for (let lba = 0; lba < 16; lba++) void s.core.execute({ lun: 0, cdb: read10(lba) });
    void s.core.execute({ lun: 0, cdb: read10(99) }, 7);
    expect(c.commands()).toHaveLength(16);
    void s.core.abort(7);
    const abortAt = c.sent.findIndex((p) => p.opcode === Opcode.TaskMgmtRequest);
    const commandAt = c.sent.findIndex((p) => p.opcode === Opcode.ScsiCommand && lbaOf(p) === 99);
    expect(commandAt).toBeGreaterThanOrEqual(0);
    expect(abortAt).toBeGreaterThan(commandAt);
  });

  it('nothing waits past a tick, whatever the target does', () => {
    const { s, c } = loaded(20);
    expect(c.commands()).toHaveLength(16);
    s.advance(1);
    expect(c.commands()).toHaveLength(20);
  });

  it('a logout drains: held commands are sent, not left waiting for completions that are all that is left', () => {
    const { s, c } = loaded(20);
    void s.core.logout();
    expect(c.commands()).toHaveLength(20);
  });

  it('held commands lost with their connection are re-issued on the next one, in submission order (ERL 0)', async () => {
    const { s, c, results } = loaded(20);
    expect(c.commands()).toHaveLength(16);
    s.lose(new TransportError('ISCSI_CONNECTION_CLOSED', 'reset'));
    const next = s.connect({ window: 256 });
    expect(next.commands()).toHaveLength(16); // the re-issue coalesces like any burst
    s.advance(1);
    expect(next.commands().map(lbaOf)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const command of next.commands()) next.respond(command);
    for (const r of results) expect((await outcome(r)).state).toBe('resolved');
  });

  it('off by default; coalesce: false, or a queue depth under 8, sends every command at once', () => {
    const byDefault = new Scene({ queueDepth: QD });
    const c = byDefault.connect({ window: 256 });
    for (let lba = 0; lba < 24; lba++) void byDefault.core.execute({ lun: 0, cdb: read10(lba) });
    expect(c.commands()).toHaveLength(24);
    expect(loaded(24, { coalesce: false }).c.commands()).toHaveLength(24);
    const shallow = loaded(7, { queueDepth: 7 });
    expect(shallow.c.commands()).toHaveLength(7);
  });
});
