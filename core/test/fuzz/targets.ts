/** Every fuzz target by name, and how a long run shares its inputs among them. */

import type { Core, FuzzTarget } from './engine.js';
import { loginTarget } from './target-login.js';
import { decodeTarget, framerTarget } from './target-pdu.js';
import { sessionTarget } from './target-session.js';
import { negotiatorTarget, textTarget } from './target-text.js';

export const TARGET_NAMES = ['framer', 'decode', 'login', 'negotiator', 'text', 'session'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/**
 * Share of a long run's inputs per target. The session target is three orders of magnitude slower per input (a login
 * over loopback each time), so it gets half a percent: 5,000 cases in a run of a million.
 */
export const TARGET_WEIGHTS: Readonly<Record<TargetName, number>> = {
  framer: 30,
  decode: 25,
  login: 12,
  negotiator: 13,
  text: 19.5,
  session: 0.5,
};

export interface Targets {
  readonly byName: ReadonlyMap<string, FuzzTarget>;
  /** Releases what targets hold (the session target's loopback server). */
  close(): Promise<void>;
}

export function createTargets(core: Core): Targets {
  const session = sessionTarget(core);
  const list: FuzzTarget[] = [framerTarget(core), decodeTarget(core), loginTarget(core), negotiatorTarget(core), textTarget(core), session];
  return { byName: new Map(list.map((t) => [t.name, t])), close: () => session.close() };
}

/** Splits `total` inputs over `names` by weight; the shares add up to exactly `total`. */
export function shareInputs(total: number, names: readonly TargetName[]): Map<TargetName, number> {
  const weight = names.reduce((s, n) => s + TARGET_WEIGHTS[n], 0);
  const out = new Map<TargetName, number>();
  let given = 0;
  names.forEach((n, i) => {
    const share = i === names.length - 1 ? total - given : Math.floor((total * TARGET_WEIGHTS[n]) / weight);
    out.set(n, share);
    given += share;
  });
  return out;
}
