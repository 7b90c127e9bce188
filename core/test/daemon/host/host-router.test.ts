// The addon's host events (native/index.d.ts HostEvent, as host-events-mac.cc would deliver them) reach the portable
// policies (issue 12 item 4: "their decisions made by portable code tested here with fake events").
import { describe, expect, it } from 'vitest';
import { routeHostEvent, type NativeHostEvent } from '../../../src/daemon/host/host-router.js';
import { NetworkPolicy } from '../../../src/daemon/host/network-policy.js';
import { PowerPolicy, type PowerSession } from '../../../src/daemon/host/power-policy.js';
import { VolumeTracker } from '../../../src/daemon/host/volume-tracker.js';

function scene() {
  const calls: string[] = [];
  const session: PowerSession = {
    isClosed: false,
    quiesce: () => (calls.push('quiesce'), Promise.resolve()),
    resumeKeepAlive: () => calls.push('resume'),
    dropConnection: () => calls.push('drop'),
  };
  const volumes = new VolumeTracker();
  const power = new PowerPolicy({ sessions: () => [session], clock: { now: () => 0, delay: () => new Promise<void>(() => {}) } });
  const timers = { setTimeout: () => 1, clearTimeout: () => {} };
  const network = new NetworkPolicy({ sessions: () => [], timers });
  const allowed: number[] = [];
  const route = (e: NativeHostEvent) => routeHostEvent(e, { volumes, power, network, allowPowerChange: (id) => allowed.push(id) });
  return { calls, volumes, allowed, route };
}

describe('routeHostEvent', () => {
  it('our whole disk with its target and LUN, its partition, a mount, an unmount; a Mac\'s own disk is ignored', () => {
    const { volumes, route } = scene();
    route({ kind: 'disk-appeared', bsdName: 'disk0', ours: false, mountPoint: '/' });
    route({ kind: 'disk-appeared', bsdName: 'disk4', ours: true, targetId: 2, lun: 0 });
    route({ kind: 'disk-appeared', bsdName: 'disk4s1', wholeDisk: 'disk4', ours: false }); // a partition: ours by its whole disk
    route({ kind: 'disk-changed', bsdName: 'disk4s1', wholeDisk: 'disk4', mountPoint: '/Volumes/LUN0' });
    route({ kind: 'disk-changed', bsdName: 'disk0s1', mountPoint: '/Volumes/Mine' });
    expect(volumes.disksOf(2)).toEqual([{ lun: 0, bsdName: 'disk4', mountPoints: ['/Volumes/LUN0'] }]);
    expect(volumes.knows('disk0')).toBe(false);
    expect(volumes.knows('disk0s1')).toBe(false);
    route({ kind: 'disk-changed', bsdName: 'disk4s1', wholeDisk: 'disk4' });
    expect(volumes.diskOf(2, 0)?.mountPoints).toEqual([]);
    route({ kind: 'disk-disappeared', bsdName: 'disk4' });
    expect(volumes.disksOf(2)).toEqual([]);
  });

  it('will-sleep: sessions quiesce, then IOAllowPowerChange with the notice\'s id; powered-on resumes them', async () => {
    const { calls, allowed, route } = scene();
    route({ kind: 'will-sleep', notificationId: 77 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['quiesce']);
    expect(allowed).toEqual([77]);
    route({ kind: 'powered-on' });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['quiesce', 'resume']);
  });
});
