/**
 * MODE SENSE (6) / (10) data (SPC-4 §6.11, §6.12, §7.5): a header, one short block descriptor unless DBD, and the
 * Caching (08h, SBC-3 §6.4.5) and Control (0Ah, SPC-4 §7.5.8) pages — the minimum a disk answers with.
 */

export const ModePage = { Caching: 0x08, Control: 0x0a, All: 0x3f } as const;

/** PC field (SPC-4 §6.11): current, changeable, default, saved. */
export const PageControl = { Current: 0, Changeable: 1, Default: 2, Saved: 3 } as const;

function cachingPage(changeable: boolean): Buffer {
  const p = Buffer.alloc(20);
  p[0] = ModePage.Caching;
  p[1] = p.length - 2;
  // WCE (bit 2): a write cache is claimed, so SYNCHRONIZE CACHE makes sense; nothing is changeable.
  if (!changeable) p[2] = 0x04;
  return p;
}

function controlPage(changeable: boolean): Buffer {
  const p = Buffer.alloc(12);
  p[0] = ModePage.Control;
  p[1] = p.length - 2;
  if (!changeable) {
    p[2] = 0x00; // TST 000b, D_SENSE 0: fixed-format sense
    p[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering
    p.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
  }
  return p;
}

/** The pages for a PAGE CODE, or undefined when it names none we have (subpages: only 00h, or FFh with 3Fh). */
export function modePages(pageCode: number, subpage: number, pageControl: number): Buffer | undefined {
  const changeable = pageControl === PageControl.Changeable;
  if (subpage !== 0 && !(pageCode === ModePage.All && subpage === 0xff)) return undefined;
  switch (pageCode) {
    case ModePage.Caching:
      return cachingPage(changeable);
    case ModePage.Control:
      return controlPage(changeable);
    case ModePage.All:
      return Buffer.concat([cachingPage(changeable), controlPage(changeable)]);
    default:
      return undefined;
  }
}

/** SBC-3 §6.4.2 short LBA mode parameter block descriptor: NUMBER OF LOGICAL BLOCKS (capped) and BLOCK LENGTH. */
function blockDescriptor(blocks: number, blockSize: number): Buffer {
  const d = Buffer.alloc(8);
  d.writeUInt32BE(Math.min(blocks, 0xffffffff), 0);
  d.writeUInt32BE(blockSize & 0xffffff, 4); // byte 4 is DENSITY CODE 0, bytes 5-7 the length
  return d;
}

/**
 * The whole parameter data. Device-specific parameter (SBC-3 §6.4.1): WP 0, DPOFUA 1 (bit 4) — DPO and FUA are
 * accepted on READ/WRITE.
 */
export function modeParameterData(ten: boolean, pages: Buffer, dbd: boolean, blocks: number, blockSize: number): Buffer {
  const descriptor = dbd ? Buffer.alloc(0) : blockDescriptor(blocks, blockSize);
  if (ten) {
    const header = Buffer.alloc(8);
    header.writeUInt16BE(header.length - 2 + descriptor.length + pages.length, 0);
    header[3] = 0x10;
    header.writeUInt16BE(descriptor.length, 6);
    return Buffer.concat([header, descriptor, pages]);
  }
  const header = Buffer.alloc(4);
  header[0] = Math.min(0xff, header.length - 1 + descriptor.length + pages.length);
  header[2] = 0x10;
  header[3] = descriptor.length;
  return Buffer.concat([header, descriptor, pages]);
}
