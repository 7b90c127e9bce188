import { NegotiationError } from '../errors.js';
import { formatPortal, parsePortal, type Portal } from '../portal.js';
import type { TextPair } from '../text/text-codec.js';
import { IscsiSession, type SessionOptions } from './session.js';

export interface DiscoveredTarget {
  readonly targetName: string;
  /** Where the target can be reached; the discovery portal itself when the target named no TargetAddress (§13.3). */
  readonly portals: readonly Portal[];
}

export type DiscoveryOptions = Omit<SessionOptions, 'sessionType' | 'targetName'>;

/**
 * SendTargets discovery (RFC 7143 §13.3, Appendix C): a Discovery session asks for SendTargets=All, reads each
 * TargetName with the TargetAddress records that follow it, and logs out.
 */
export async function discoverTargets(options: DiscoveryOptions): Promise<DiscoveredTarget[]> {
  const session = await IscsiSession.open({ ...options, sessionType: 'Discovery', reconnect: false });
  try {
    const pairs = await session.textRequest([['SendTargets', 'All']]);
    return parseSendTargets(pairs, session.portal);
  } finally {
    await session.logout().catch(() => session.destroy());
  }
}

/** Groups a SendTargets response: each TargetName starts a record, TargetAddress lines belong to the last name. */
export function parseSendTargets(pairs: readonly TextPair[], discoveryPortal: Portal): DiscoveredTarget[] {
  const targets: Array<{ targetName: string; portals: Portal[] }> = [];
  for (const [key, value] of pairs) {
    if (key === 'TargetName') {
      if (value === '') throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', 'empty TargetName in SendTargets response', key);
      targets.push({ targetName: value, portals: [] });
    } else if (key === 'TargetAddress') {
      const last = targets.at(-1);
      if (!last) throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', 'TargetAddress before any TargetName', key);
      try {
        last.portals.push(parsePortal(value));
      } catch (e) {
        throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', `bad TargetAddress "${value}"`, key, { cause: e });
      }
    }
    // Other keys (e.g. TargetAlias from some targets) are informational here.
  }
  for (const target of targets) {
    if (target.portals.length === 0) target.portals.push({ host: discoveryPortal.host, port: discoveryPortal.port });
  }
  return targets;
}

export function formatDiscoveredTarget(target: DiscoveredTarget): string[] {
  return target.portals.map((p) => `${formatPortal(p)},${p.portalGroupTag ?? 1} ${target.targetName}`);
}
