// Sleep and wake (issue 12 item 4: "before sleep, quiesce: finish in-flight I/O and stop NOP-Out timers. After wake,
// check every connection and recover at once"), with IORegisterForSystemPower's messages made by hand and a fake clock.
import { describe, expect, it } from 'vitest';
import { PowerPolicy, type PowerClock, type PowerSession } from '../../../src/daemon/host/power-policy.js';

class FakeClock implements PowerClock {
  time = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  now(): number {
    return this.time;
  }
  delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.time + ms, resolve }));
  }
  advance(ms: number): void {
    this.time += ms;
    for (const t of this.timers.filter((t) => t.at <= this.time)) t.resolve();
    this.timers = this.timers.filter((t) => t.at > this.time);
  }
}

class FakeSession implements PowerSession {
  isClosed = false;
  readonly calls: string[] = [];
  drain: { resolve: () => void } | undefined;
  constructor(private readonly drainsAtOnce = true) {}
  quiesce(timeoutMs: number): Promise<void> {
    this.calls.push(`quiesce ${timeoutMs}`);
    if (this.drainsAtOnce) return Promise.resolve();
    return new Promise((resolve) => (this.drain = { resolve }));
  }
  resumeKeepAlive(): void {
    this.calls.push('resume');
  }
  dropConnection(): void {
    this.calls.push('drop');
  }
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('PowerPolicy', () => {
  it('will-sleep: every open session quiesces (pings stop, in-flight I/O drains within the bound), then sleep is allowed', async () => {
    const clock = new FakeClock();
    const slow = new FakeSession(false);
    const closed = Object.assign(new FakeSession(), { isClosed: true });
    const policy = new PowerPolicy({ sessions: () => [slow, closed], clock, quiesceMs: 3000 });
    let allowed = false;
    const handled = policy.handle({ type: 'will-sleep', allow: () => (allowed = true) });
    await flush();
    expect(slow.calls).toEqual(['quiesce 3000']);
    expect(closed.calls).toEqual([]);
    expect(allowed).toBe(false); // a command is still in flight
    slow.drain!.resolve();
    await handled;
    expect(allowed).toBe(true);
    expect(policy.asleep).toBe(true);
  });

  it('a session that never drains does not hold the system awake: sleep is allowed at the quiesce bound', async () => {
    const clock = new FakeClock();
    const stuck = new FakeSession(false);
    const policy = new PowerPolicy({ sessions: () => [stuck], clock, quiesceMs: 3000 });
    let allowed = false;
    const handled = policy.handle({ type: 'will-sleep', allow: () => (allowed = true) });
    await flush();
    clock.advance(2999);
    await flush();
    expect(allowed).toBe(false);
    clock.advance(1);
    await handled;
    expect(allowed).toBe(true);
  });

  it('can-sleep (idle sleep asking) is allowed at once, with no quiesce', async () => {
    const s = new FakeSession();
    const policy = new PowerPolicy({ sessions: () => [s], clock: new FakeClock() });
    let allowed = false;
    await policy.handle({ type: 'can-sleep', allow: () => (allowed = true) });
    expect(allowed).toBe(true);
    expect(s.calls).toEqual([]);
  });

  it('powered-on after a short sleep: pings resume at once (they check the connection), no reconnect', async () => {
    const clock = new FakeClock();
    const s = new FakeSession();
    const policy = new PowerPolicy({ sessions: () => [s], clock, staleAfterMs: 10_000 });
    await policy.handle({ type: 'will-sleep', allow: () => {} });
    clock.advance(9_999);
    await policy.handle({ type: 'powered-on' });
    expect(s.calls).toEqual(['quiesce 10000', 'resume']);
    expect(policy.asleep).toBe(false);
  });

  it('powered-on after a long sleep: every session recovers at once (the target has dropped us), not a NOP timeout later', async () => {
    const clock = new FakeClock();
    const a = new FakeSession();
    const b = new FakeSession();
    const opened = new FakeSession(); // logged in between will-sleep and the sleep: resumed and checked all the same
    let sessions: FakeSession[] = [a, b];
    const policy = new PowerPolicy({ sessions: () => sessions, clock, staleAfterMs: 10_000 });
    await policy.handle({ type: 'will-sleep', allow: () => {} });
    sessions = [a, b, opened];
    clock.advance(3_600_000);
    await policy.handle({ type: 'powered-on' });
    expect(a.calls.slice(1)).toEqual(['resume', 'drop']);
    expect(b.calls.slice(1)).toEqual(['resume', 'drop']);
    expect(opened.calls).toEqual(['resume', 'drop']);
  });
});
