// Issue 12 item 4: "macOS adapters (thin, compiled on macOS only, their decisions made by portable code tested here
// with fake events)". wireHost connects native watchHost to the policies; here a fake watchHost delivers the events
// a Mac would (DiskArbitration, IORegisterForSystemPower, nw_path_monitor) and records what iscsid asks of it.
import { describe, expect, it } from 'vitest';
import { VolumeBusyError } from '../../src/errors.js';
import type { UnmountOutcome } from '../../src/daemon/host/host-events.js';
import type { NativeHostEvent } from '../../src/daemon/host/host-router.js';
import type { NetworkTimers } from '../../src/daemon/host/network-policy.js';
import type { PowerClock } from '../../src/daemon/host/power-policy.js';
import { wireHost, type HostWatchHandle } from '../../src/daemon/host-wiring.js';

class FakeWatch implements HostWatchHandle {
  listener: ((event: NativeHostEvent) => void) | undefined;
  readonly calls: string[] = [];
  refuseUnmount: UnmountOutcome | undefined;
  allowPowerChange(id: number): void {
    this.calls.push(`allow ${id}`);
  }
  unmountWhole(bsdName: string, options: { readonly force: boolean }): Promise<UnmountOutcome> {
    this.calls.push(`unmount ${bsdName}${options.force ? ' force' : ''}`);
    return Promise.resolve(options.force ? { ok: true } : (this.refuseUnmount ?? { ok: true }));
  }
  eject(bsdName: string): Promise<UnmountOutcome> {
    this.calls.push(`eject ${bsdName}`);
    return Promise.resolve({ ok: true });
  }
  close(): void {
    this.calls.push('close');
  }
  emit(event: NativeHostEvent): void {
    this.listener!(event);
  }
}

class FakeSession {
  readonly calls: string[] = [];
  isClosed = false;
  isConnected = true;
  quiesce(): Promise<void> {
    this.calls.push('quiesce');
    return Promise.resolve();
  }
  resumeKeepAlive(): void {
    this.calls.push('resume');
  }
  dropConnection(reason?: string): void {
    this.calls.push(`drop: ${reason}`);
  }
  retryNow(): void {
    this.calls.push('retry');
  }
}

/** A clock the test moves; delay() never resolves on its own (the sessions' quiesce answers first). */
function fakeClock(): PowerClock & { now: () => number; advance(ms: number): void } {
  let now = 0;
  return { now: () => now, advance: (ms) => void (now += ms), delay: () => new Promise<void>(() => {}) };
}

/** Timers run when the test says. */
function fakeTimers(): NetworkTimers & { fire(): void } {
  let pending: (() => void) | undefined;
  return {
    setTimeout: (fn) => ((pending = fn), 1),
    clearTimeout: () => (pending = undefined),
    fire: () => {
      const fn = pending;
      pending = undefined;
      fn?.();
    },
  };
}

function wired() {
  const watch = new FakeWatch();
  const session = new FakeSession();
  const clock = fakeClock();
  const timers = fakeTimers();
  const logs: string[] = [];
  const host = wireHost({
    watchHost: (listener) => ((watch.listener = listener), watch),
    sessions: () => [session],
    log: (level, message) => logs.push(`${level} ${message}`),
    clock,
    timers,
  });
  return { watch, session, clock, timers, logs, host };
}

describe('wireHost: native watchHost\'s events reach the policies (macOS, with a fake watch)', () => {
  it('DiskArbitration: our disk and its volume become the LUN\'s /dev/diskN and mount points; other disks are ignored', () => {
    const { watch, host } = wired();
    watch.emit({ kind: 'disk-appeared', bsdName: 'disk4', ours: true, targetId: 3, lun: 1 });
    watch.emit({ kind: 'disk-appeared', bsdName: 'disk4s1', wholeDisk: 'disk4', ours: false, mountPoint: '/Volumes/Data' });
    watch.emit({ kind: 'disk-appeared', bsdName: 'disk0', ours: false, mountPoint: '/' });
    expect(host.volumes.view(3, 1)).toEqual({ disk: '/dev/disk4', mountPoints: ['/Volumes/Data'] });
    expect(host.tracker.knows('disk0')).toBe(false);
    watch.emit({ kind: 'disk-changed', bsdName: 'disk4s1', wholeDisk: 'disk4' });
    expect(host.volumes.view(3, 1)).toEqual({ disk: '/dev/disk4', mountPoints: [] });
  });

  it('a logout unmounts through the watch (polite), ejects, and a dissent refuses it naming the volume unless forced', async () => {
    const { watch, host } = wired();
    watch.emit({ kind: 'disk-appeared', bsdName: 'disk4', ours: true, targetId: 3, lun: 1, mountPoint: '/Volumes/Data' });
    watch.refuseUnmount = { ok: false, errno: 'EBUSY', dissent: 'Finder holds it' };
    const error = await host.volumes.release(3, [1], { force: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeBusyError);
    expect(error).toMatchObject({ mountPoint: '/Volumes/Data', disk: 'disk4', holder: 'Finder holds it' });
    expect(watch.calls).toEqual(['unmount disk4']);
    watch.calls.length = 0;
    expect(await host.volumes.release(3, [1], { force: true })).toEqual(['ejected /dev/disk4 (unmounted /Volumes/Data)']);
    expect(watch.calls).toEqual(['unmount disk4', 'unmount disk4 force', 'eject disk4']);
  });

  it('sleep: the sessions quiesce, then the power change is allowed through the watch; wake after long: recover', async () => {
    const { watch, session, clock } = wired();
    watch.emit({ kind: 'will-sleep', notificationId: 7 });
    await new Promise((resolve) => setImmediate(resolve)); // the policy's awaits: microtasks and one turn
    expect(session.calls).toEqual(['quiesce']);
    expect(watch.calls).toEqual(['allow 7']);
    clock.advance(60_000);
    watch.emit({ kind: 'powered-on' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(session.calls).toEqual(['quiesce', 'resume', 'drop: the host slept 60 s']);
  });

  it('network: a changed path (after the debounce) makes connected sessions reconnect; close stops the watch', () => {
    const { watch, session, timers, host } = wired();
    watch.emit({ kind: 'network', status: 'satisfied', interfaces: ['en0 192.0.2.10'] });
    timers.fire(); // the first path is where we start from
    watch.emit({ kind: 'network', status: 'satisfied', interfaces: ['en1 198.51.100.7'] });
    timers.fire();
    expect(session.calls).toEqual(['drop: the network path changed']);
    host.close();
    expect(watch.calls).toEqual(['close']);
  });
});
