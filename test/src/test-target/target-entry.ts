/**
 * One configured target, resolved from TargetOptions: what login needs (LoginTarget) plus its logical units and the
 * settings that change at run time (the CHAP account, on cue).
 */
import { ArgumentError, MAX_FLAT_LUN } from '@iscsi-initiator/core';
import { ALL_CHAP_ALGORITHMS, type ChapSettings } from './chap.js';
import type { LoginTarget } from './login.js';
import { LogicalUnit } from './logical-unit.js';
import { resolveTargetParams, type TargetParams } from './negotiation.js';
import { checkAccount, checkInteger, checkTargetName, DEFAULT_CMD_WINDOW, DEFAULT_LUN_SIZE, parseSize, type TargetOptions } from './options.js';

export class TargetEntry implements LoginTarget {
  readonly name: string;
  readonly alias: string | undefined;
  readonly params: TargetParams;
  readonly explicit: ReadonlySet<string>;
  readonly window: number;
  readonly unitAttentionOnLogin: boolean;
  readonly units = new Map<number, LogicalUnit>();
  /** Mutable: 'auth-change' replaces it. */
  chap: ChapSettings | undefined;

  constructor(options: TargetOptions, defaultName: string) {
    this.name = checkTargetName(options.name ?? defaultName);
    this.alias = options.alias;
    const { params, explicit } = resolveTargetParams(options.params);
    this.params = params;
    this.explicit = explicit;
    this.window = checkInteger(options.cmdWindow ?? DEFAULT_CMD_WINDOW, 1, 2 ** 31 - 1, 'cmdWindow');
    this.unitAttentionOnLogin = options.unitAttentionOnLogin ?? true;
    if (options.chap) {
      const algorithms = [...(options.chap.algorithms ?? ALL_CHAP_ALGORITHMS)];
      if (algorithms.length === 0 || algorithms.some((a) => !ALL_CHAP_ALGORITHMS.includes(a))) {
        throw new ArgumentError('ISCSI_BAD_ARGUMENT', `CHAP algorithms must be a non-empty list of ${ALL_CHAP_ALGORITHMS.join(', ')}`);
      }
      this.chap = {
        incoming: checkAccount(options.chap.incoming, 'incoming'),
        outgoing: options.chap.outgoing ? checkAccount(options.chap.outgoing, 'outgoing') : undefined,
        algorithms,
      };
    }
    (options.luns ?? [{}]).forEach((l, index) => {
      const lun = checkInteger(l.lun ?? index, 0, MAX_FLAT_LUN, 'lun');
      if (this.units.has(lun)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `LUN ${lun} is configured twice on ${this.name}`);
      this.units.set(
        lun,
        new LogicalUnit({
          targetName: this.name,
          lun,
          sizeBytes: parseSize(l.size ?? DEFAULT_LUN_SIZE),
          blockSize: l.blockSize ?? 512,
          vendor: l.vendor,
          product: l.product,
          serial: l.serial,
        }),
      );
    });
  }

  get luns(): number[] {
    return [...this.units.keys()].sort((a, b) => a - b);
  }
}
