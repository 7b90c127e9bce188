import type { NetworkPolicy } from './network-policy.js';
import type { PowerPolicy } from './power-policy.js';
import type { VolumeTracker } from './volume-tracker.js';

/** native/index.d.ts's HostEvent, restated so this file (and its tests) need no addon. */
export type NativeHostEvent =
  | { readonly kind: 'disk-appeared'; readonly bsdName: string; readonly wholeDisk?: string; readonly ours: boolean; readonly targetId?: number; readonly lun?: number; readonly mountPoint?: string }
  | { readonly kind: 'disk-changed'; readonly bsdName: string; readonly wholeDisk?: string; readonly mountPoint?: string }
  | { readonly kind: 'disk-disappeared'; readonly bsdName: string }
  | { readonly kind: 'will-sleep' | 'can-sleep'; readonly notificationId: number }
  | { readonly kind: 'powered-on' }
  | { readonly kind: 'network'; readonly status: 'satisfied' | 'unsatisfied' | 'requires-connection'; readonly interfaces: readonly string[] };

export interface HostRouterTargets {
  readonly volumes: VolumeTracker;
  readonly power: PowerPolicy;
  readonly network: NetworkPolicy;
  /** IOAllowPowerChange (native's HostWatch.allowPowerChange). */
  readonly allowPowerChange: (notificationId: number) => void;
  /** A policy's failure (never expected: they do not throw) is logged, not thrown into the addon's callback. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Turns the addon's host events into the policies' events: only the HBA's disks are tracked (other disks of the Mac
 * are none of iscsid's business); a partition counts once its whole disk is ours.
 */
export function routeHostEvent(event: NativeHostEvent, to: HostRouterTargets): void {
  switch (event.kind) {
    case 'disk-appeared': {
      const ours = event.ours || (event.wholeDisk !== undefined && to.volumes.knows(event.wholeDisk));
      if (!ours) return;
      const address = event.targetId !== undefined && event.lun !== undefined && event.wholeDisk === undefined ? { targetId: event.targetId, lun: event.lun } : undefined;
      to.volumes.apply({ type: 'disk-appeared', bsdName: event.bsdName, ...(event.wholeDisk === undefined ? {} : { wholeDisk: event.wholeDisk }), ...(address ? { address } : {}) });
      if (event.mountPoint !== undefined) to.volumes.apply({ type: 'volume-mounted', bsdName: event.bsdName, mountPoint: event.mountPoint });
      return;
    }
    case 'disk-changed':
      if (!to.volumes.knows(event.bsdName)) return;
      to.volumes.apply(event.mountPoint === undefined ? { type: 'volume-unmounted', bsdName: event.bsdName } : { type: 'volume-mounted', bsdName: event.bsdName, mountPoint: event.mountPoint });
      return;
    case 'disk-disappeared':
      if (to.volumes.knows(event.bsdName)) to.volumes.apply({ type: 'disk-disappeared', bsdName: event.bsdName });
      return;
    case 'will-sleep':
    case 'can-sleep': {
      const id = event.notificationId;
      to.power.handle({ type: event.kind, allow: () => to.allowPowerChange(id) }).catch((e: unknown) => {
        // Sleep is never held up by our failure: macOS would wait 30 s for the acknowledgement.
        to.allowPowerChange(id);
        to.onError?.(e);
      });
      return;
    }
    case 'powered-on':
      to.power.handle({ type: 'powered-on' }).catch((e: unknown) => to.onError?.(e));
      return;
    case 'network':
      to.network.handle({ type: 'path', status: event.status, interfaces: event.interfaces });
      return;
  }
}
