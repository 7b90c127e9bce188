// Network changes (issue 12 item 4: "Network changes (nw_path_monitor or SCNetworkReachability): reconnect at once
// instead of waiting for a NOP-Out timeout"), with nw_path_monitor's updates made by hand and fake timers.
import { describe, expect, it } from 'vitest';
import type { NetworkPathEvent } from '../../../src/daemon/host/host-events.js';
import { NetworkPolicy, SYSTEM_NETWORK_TIMERS, type NetworkSession, type NetworkTimers } from '../../../src/daemon/host/network-policy.js';

class FakeTimers implements NetworkTimers {
  time = 0;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.time += ms;
    for (const [id, t] of [...this.timers]) {
      if (t.at > this.time) continue;
      this.timers.delete(id);
      t.fn();
    }
  }
  get pending(): number {
    return this.timers.size;
  }
}

class FakeSession implements NetworkSession {
  isClosed = false;
  readonly calls: string[] = [];
  constructor(public isConnected: boolean) {}
  dropConnection(): void {
    this.calls.push('drop');
  }
  retryNow(): void {
    this.calls.push('retry');
  }
}

const path = (status: NetworkPathEvent['status'], ...interfaces: string[]): NetworkPathEvent => ({ type: 'path', status, interfaces });

function scene() {
  const timers = new FakeTimers();
  const connected = new FakeSession(true);
  const recovering = new FakeSession(false);
  const closed = Object.assign(new FakeSession(true), { isClosed: true });
  const policy = new NetworkPolicy({ sessions: () => [connected, recovering, closed], timers, debounceMs: 500 });
  policy.handle(path('satisfied', 'en0 192.0.2.10'));
  timers.advance(500); // the path at start: nothing to do
  return { timers, connected, recovering, closed, policy };
}

describe('NetworkPolicy', () => {
  it('the first path is the starting point: no session is touched', () => {
    const { connected, recovering } = scene();
    expect(connected.calls).toEqual([]);
    expect(recovering.calls).toEqual([]);
  });

  it('an address change: connected sessions reconnect at once, recovering ones retry at once, closed ones are left', () => {
    const { timers, connected, recovering, closed, policy } = scene();
    policy.handle(path('satisfied', 'en0 192.0.2.77'));
    timers.advance(499);
    expect(connected.calls).toEqual([]);
    timers.advance(1);
    expect(connected.calls).toEqual(['drop']);
    expect(recovering.calls).toEqual(['retry']);
    expect(closed.calls).toEqual([]);
  });

  it('a burst (Wi-Fi down, Ethernet up, address) is one change, acted on after the last update settles', () => {
    const { timers, connected, policy } = scene();
    policy.handle(path('unsatisfied'));
    timers.advance(200);
    policy.handle(path('satisfied', 'en1 198.51.100.4'));
    timers.advance(200);
    policy.handle(path('satisfied', 'en1 198.51.100.4', 'en0 192.0.2.10'));
    timers.advance(499);
    expect(connected.calls).toEqual([]);
    timers.advance(1);
    expect(connected.calls).toEqual(['drop']);
  });

  it('the same path again (a flap that came back as it was, an update with nothing new) reconnects nothing', () => {
    const { timers, connected, policy } = scene();
    policy.handle(path('unsatisfied'));
    timers.advance(100);
    policy.handle(path('satisfied', 'en0 192.0.2.10'));
    timers.advance(500);
    policy.handle(path('satisfied', 'en0 192.0.2.10'));
    timers.advance(500);
    expect(connected.calls).toEqual([]);
  });

  it('no usable path: nothing is done (a reconnect would only fail); when one comes back, sessions reconnect at once', () => {
    const { timers, connected, recovering, policy } = scene();
    policy.handle(path('unsatisfied'));
    timers.advance(500);
    expect(connected.calls).toEqual([]);
    policy.handle(path('satisfied', 'en0 192.0.2.10'));
    timers.advance(500);
    expect(connected.calls).toEqual(['drop']);
    expect(recovering.calls).toEqual(['retry']);
  });

  it('close() drops a pending decision', () => {
    const { timers, connected, policy } = scene();
    policy.handle(path('satisfied', 'en2 203.0.113.9'));
    policy.close();
    expect(timers.pending).toBe(0);
    timers.advance(1000);
    expect(connected.calls).toEqual([]);
  });
});

describe('SYSTEM_NETWORK_TIMERS (what iscsid passes)', () => {
  it('runs a callback on a real (unref\'d) timer, and clearTimeout cancels it', async () => {
    const fired: string[] = [];
    const cancelled = SYSTEM_NETWORK_TIMERS.setTimeout(() => fired.push('cancelled'), 1);
    SYSTEM_NETWORK_TIMERS.clearTimeout(cancelled);
    await new Promise<void>((resolve) => SYSTEM_NETWORK_TIMERS.setTimeout(() => (fired.push('ran'), resolve()), 1));
    expect(fired).toEqual(['ran']);
  });
});
