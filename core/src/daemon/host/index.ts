// The macOS adapters' decisions, portable (issue 12 item 4): fed by native/ events on a Mac, by hand in tests.
import type { IscsiSession } from '../../net/session.js';
import type { NetworkSession } from './network-policy.js';
import type { PowerSession } from './power-policy.js';

export type { DiskActions, DiskAddress, DiskEvent, NetworkPathEvent, PowerEvent, UnmountOutcome } from './host-events.js';
export { VolumeTracker, unmountForLogout, type AttachedDisk, type LogoutPlan } from './volume-tracker.js';
export { PowerPolicy, SYSTEM_POWER_CLOCK, type PowerClock, type PowerPolicyOptions, type PowerSession } from './power-policy.js';
export { routeHostEvent, type HostRouterTargets, type NativeHostEvent } from './host-router.js';
export { NetworkPolicy, SYSTEM_NETWORK_TIMERS, type NetworkPolicyOptions, type NetworkSession, type NetworkTimers } from './network-policy.js';

/** iscsid's sessions are what the policies take: this fails to compile the day IscsiSession loses a hook they need. */
export function hostSession(session: IscsiSession): PowerSession & NetworkSession {
  return session;
}
