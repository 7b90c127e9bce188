// Draws assets/icon.png (512×512, the Raycast Store's icon size) with nothing but node: a disk stack on a blue tile
// with a green link dot. Run `node scripts/icon.mjs` after changing it; the PNG is committed.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';

const SIZE = 512;
const SAMPLES = 4; // 4×4 supersampling per pixel: smooth edges without a graphics library

/** Inside a rounded rectangle. */
const roundRect = (x, y, x0, y0, x1, y1, r) => {
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
const ellipse = (x, y, cx, cy, rx, ry) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

/** A disk platter: a cylinder seen from above, its top ellipse lighter. */
function platter(x, y, top) {
  const cx = 236,
    rx = 150,
    ry = 46,
    h = 62;
  const inTop = ellipse(x, y, cx, top, rx, ry);
  const inBody = (Math.abs(x - cx) <= rx && y >= top && y <= top + h) || ellipse(x, y, cx, top + h, rx, ry);
  if (inTop) return [255, 255, 255];
  if (inBody) return [200, 216, 240];
  return null;
}

/** The colour at a sub-pixel point, or null for transparent. */
function paint(x, y) {
  if (!roundRect(x, y, 16, 16, 496, 496, 110)) return null;
  let colour = [Math.round(30 + (x + y) * 0.03), Math.round(90 + y * 0.12), Math.round(200 + x * 0.05)];
  // Three platters, drawn bottom first so the upper ones cover the lower.
  for (const top of [330, 230, 130]) {
    const c = platter(x, y, top);
    if (c) colour = c;
  }
  if (ellipse(x, y, 392, 392, 62, 62)) colour = [255, 255, 255];
  if (ellipse(x, y, 392, 392, 48, 48)) colour = [52, 199, 89];
  return colour;
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let py = 0; py < SIZE; py++) {
  const row = py * (SIZE * 4 + 1);
  raw[row] = 0; // PNG filter type 0 (None) for every scanline
  for (let px = 0; px < SIZE; px++) {
    let r = 0,
      g = 0,
      b = 0,
      a = 0;
    for (let sy = 0; sy < SAMPLES; sy++) {
      for (let sx = 0; sx < SAMPLES; sx++) {
        const c = paint(px + (sx + 0.5) / SAMPLES, py + (sy + 0.5) / SAMPLES);
        if (!c) continue;
        r += c[0];
        g += c[1];
        b += c[2];
        a++;
      }
    }
    const o = row + 1 + px * 4;
    if (a > 0) {
      raw[o] = Math.round(r / a);
      raw[o + 1] = Math.round(g / a);
      raw[o + 2] = Math.round(b / a);
    }
    raw[o + 3] = Math.round((a / (SAMPLES * SAMPLES)) * 255);
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
/** One PNG chunk: length, type, data, CRC over type + data (PNG spec §5.3). */
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // colour type RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
writeFileSync(path.join(import.meta.dirname, '../assets/icon.png'), png);
