/**
 * How read data travels (RFC 7143 §11.7): Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength
 * (§13.12), in sequences of at most MaxBurstLength (§13.13) each ending with the F bit, DataSN from 0; with GOOD
 * status the last PDU carries it (S bit: phase collapse) and no SCSI Response follows.
 */

export interface DataInSegment {
  readonly offset: number;
  readonly length: number;
  /** F: the last PDU of a sequence (a MaxBurstLength boundary or the end). */
  readonly final: boolean;
}

/** Segments of `length` bytes of read data (none for 0). */
export function planDataIn(length: number, maxSegment: number, maxBurst: number): DataInSegment[] {
  const segments: DataInSegment[] = [];
  for (let burstStart = 0; burstStart < length; burstStart += maxBurst) {
    const burstEnd = Math.min(length, burstStart + maxBurst);
    for (let at = burstStart; at < burstEnd; at += maxSegment) {
      const size = Math.min(maxSegment, burstEnd - at);
      segments.push({ offset: at, length: size, final: at + size === burstEnd });
    }
  }
  return segments;
}

/** SAM-5 §5.4.2 / RFC 7143 §11.4: the residual of a transfer of `actual` bytes against EDTL `expected`. */
export function residual(expected: number, actual: number): { underflow: boolean; overflow: boolean; residualCount: number } {
  if (actual > expected) return { underflow: false, overflow: true, residualCount: actual - expected };
  if (actual < expected) return { underflow: true, overflow: false, residualCount: expected - actual };
  return { underflow: false, overflow: false, residualCount: 0 };
}
