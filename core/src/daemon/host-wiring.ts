// iscsid on macOS listens to the Mac (issue 12 item 4): DiskArbitration's disks and volumes, sleep and wake, network
// path changes — native watchHost's events routed to the portable policies of ./host. Thin on purpose: the decisions
// are the policies', tested with hand-made events; this only connects them, and is tested with a fake watchHost.
import type { DiskActions } from './host/host-events.js';
import { routeHostEvent, type NativeHostEvent } from './host/host-router.js';
import { NetworkPolicy, SYSTEM_NETWORK_TIMERS, type NetworkSession, type NetworkTimers } from './host/network-policy.js';
import { PowerPolicy, SYSTEM_POWER_CLOCK, type PowerClock, type PowerSession } from './host/power-policy.js';
import { VolumeTracker } from './host/volume-tracker.js';
import { TrackedVolumes } from './volumes/tracked-volumes.js';

/** native/index.d.ts's HostWatch, restated so this file (and its test) need no addon. */
export interface HostWatchHandle extends DiskActions {
  allowPowerChange(notificationId: number): void;
  close(): void;
}

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface HostWiringOptions {
  /** native's watchHost (macOS; ENOSYS elsewhere, which the caller handles). */
  readonly watchHost: (listener: (event: NativeHostEvent) => void) => HostWatchHandle;
  /** iscsid's live sessions, asked at each decision (a session opened after the watch started counts too). */
  readonly sessions: () => Iterable<PowerSession & NetworkSession>;
  readonly log: Log;
  readonly clock?: PowerClock;
  readonly timers?: NetworkTimers;
}

export interface HostWiring {
  /** The HBA's disks and volumes as DiskArbitration reports them, and their unmount before a logout. */
  readonly volumes: TrackedVolumes;
  readonly tracker: VolumeTracker;
  /** Stops the watchers and any pending network decision. */
  close(): void;
}

export function wireHost(options: HostWiringOptions): HostWiring {
  const tracker = new VolumeTracker();
  const power = new PowerPolicy({ sessions: options.sessions, clock: options.clock ?? SYSTEM_POWER_CLOCK });
  const network = new NetworkPolicy({ sessions: options.sessions, timers: options.timers ?? SYSTEM_NETWORK_TIMERS });
  // A power notice delivered before watchHost returned (never on the addon's queue, but cheap to allow) is still answered.
  const started: { watch?: HostWatchHandle } = {};
  const early: number[] = [];
  const targets = {
    volumes: tracker,
    power,
    network,
    allowPowerChange: (id: number) => (started.watch ? started.watch.allowPowerChange(id) : early.push(id)),
    onError: (error: unknown) => options.log('error', 'host event policy failed', { error: error instanceof Error ? error.message : String(error) }),
  };
  const handle = options.watchHost((event) => {
    if (event.kind === 'will-sleep' || event.kind === 'powered-on') options.log('info', event.kind === 'will-sleep' ? 'the Mac is going to sleep: quiescing sessions' : 'the Mac woke: checking every session');
    routeHostEvent(event, targets);
  });
  started.watch = handle;
  for (const id of early.splice(0)) handle.allowPowerChange(id);
  const actions: DiskActions = {
    unmountWhole: (bsdName, o) => handle.unmountWhole(bsdName, o),
    eject: (bsdName) => handle.eject(bsdName),
  };
  return {
    volumes: new TrackedVolumes(tracker, actions),
    tracker,
    close: () => {
      network.close();
      handle.close();
    },
  };
}
