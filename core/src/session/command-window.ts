import { serialAdd, serialDistance, serialLt, serialLte } from './serial.js';

/**
 * The session's command numbering (RFC 7143 §4.2.2.1, §3.2.2.1): CmdSN for the next non-immediate command, and the
 * window [ExpCmdSN, MaxCmdSN] the target grants. I/O-free; all comparisons are RFC 1982 serial arithmetic.
 */
export class CommandWindow {
  private next: number;
  private exp: number;
  private max: number;

  constructor(cmdSN: number, expCmdSN: number, maxCmdSN: number) {
    this.next = cmdSN >>> 0;
    this.exp = expCmdSN >>> 0;
    this.max = maxCmdSN >>> 0;
  }

  get cmdSN(): number {
    return this.next;
  }
  get expCmdSN(): number {
    return this.exp;
  }
  get maxCmdSN(): number {
    return this.max;
  }

  /** §4.2.2.1: a non-immediate command may be sent only when CmdSN ≤ MaxCmdSN. */
  get open(): boolean {
    return serialLte(this.next, this.max);
  }

  /** How many more non-immediate commands the target accepts now (0 when closed). */
  get available(): number {
    return this.open ? serialDistance(this.next, this.max) + 1 : 0;
  }

  /** Takes the CmdSN for a non-immediate command and advances. */
  take(): number {
    const sn = this.next;
    this.next = serialAdd(this.next, 1);
    return sn;
  }

  /**
   * Applies ExpCmdSN/MaxCmdSN from a target PDU. §4.2.2.1: if MaxCmdSN < ExpCmdSN - 1 the values are invalid and
   * ignored; otherwise each moves only forward (stale PDUs may arrive with older numbers).
   * Returns true when the window grew.
   */
  update(expCmdSN: number, maxCmdSN: number): boolean {
    if (serialLt(maxCmdSN, serialAdd(expCmdSN, -1))) return false;
    const before = this.available;
    if (serialLt(this.exp, expCmdSN)) this.exp = expCmdSN >>> 0;
    if (serialLt(this.max, maxCmdSN)) this.max = maxCmdSN >>> 0;
    // MaxCmdSN may also shrink (a target reducing its queue); accept a smaller value only if it is still ≥ ExpCmdSN-1.
    else if (serialLt(maxCmdSN, this.max) && !serialLt(maxCmdSN, serialAdd(this.exp, -1))) this.max = maxCmdSN >>> 0;
    return this.available > before;
  }
}
