// Issue 13: "`ray lint` looks the author up online, so CI runs what it checks offline instead: … a test that
// `package.json` matches the manifest schema." Also the Store's icon rule: a 512 × 512 PNG in assets/
// (developers.raycast.com/information/manifest, `icon`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';

const extension = path.resolve(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(path.join(extension, 'package.json'), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(import.meta.dirname, 'manifest.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

describe("package.json is a Raycast manifest (Raycast's documented schema, offline)", () => {
  it('validates, with the six commands of the contract and the socketPath preference', () => {
    const ok = validate(manifest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    const commands = manifest['commands'] as Array<{ name: string; mode: string; interval?: string }>;
    expect(commands.map((c) => [c.name, c.mode])).toEqual([
      ['sessions', 'view'],
      ['targets', 'view'],
      ['discover', 'view'],
      ['menu-bar', 'menu-bar'],
      ['connect-all', 'no-view'],
      ['disconnect-all', 'no-view'],
    ]);
    expect(commands.find((c) => c.name === 'menu-bar')?.interval).toBe('30s');
    expect(manifest['preferences']).toEqual([
      expect.objectContaining({ name: 'socketPath', type: 'textfield', default: '/var/run/iscsid.sock' }),
    ]);
  });

  it('the schema bites: a manifest without an author, with an unknown mode, or an interval on a view is refused', () => {
    const { author: _author, ...noAuthor } = manifest;
    expect(validate(noAuthor)).toBe(false);
    const commands = manifest['commands'] as object[];
    expect(validate({ ...manifest, commands: [{ ...commands[0], mode: 'window' }] })).toBe(false);
    expect(validate({ ...manifest, commands: [{ ...commands[0], interval: '1m' }] })).toBe(false);
    expect(validate({ ...manifest, categories: ['Storage'] })).toBe(false);
  });

  it('the icon is a 512 × 512 PNG in assets/', () => {
    const png = readFileSync(path.join(extension, 'assets', manifest['icon'] as string));
    // PNG signature, then IHDR first with width and height as big-endian 32-bit numbers (PNG spec §5.2, §11.2.2).
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.toString('ascii', 12, 16)).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512]);
  });
});
