// Issue 11 item 1: "a TypeScript mirror that a test proves identical (offsets, sizes, constants), so the two sides
// cannot drift". driver/test/abi-dump.c prints every constant, enumerator, struct size and field offset/size of
// driver/include/iscsi_hba_abi.h; it is compiled as C11 (gcc) and as C++20 (g++), and both outputs must equal the
// mirror in core/src/hba/abi.ts. The fields must also tile each struct (no gap, no overlap), so a field added to the
// header but forgotten in the dump fails here too. Needs a compiler: the integration project.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../../../test/src/require-tool.js';
import {
  HBA_CONSTANTS,
  HBA_STRUCTS,
  HbaAbiError,
  HbaCmdOp,
  HbaCplFlag,
  HbaCplOp,
  HbaDirection,
  HbaNotice,
  HbaRegion,
  HbaSelector,
  HbaServiceResponse,
  HbaTaskAttribute,
  hbaErrorName,
} from '../../src/hba/abi.js';

const repo = path.resolve(import.meta.dirname, '../../..');
const dump = path.join(repo, 'driver/test/abi-dump.c');
const haveCompilers = requireTool('gcc', 'g++');

interface Dump {
  language: string;
  constants: Record<string, number>;
  regions: Record<string, number>;
  selectors: Record<string, number>;
  errors: Record<string, number>;
  enums: Record<string, number>;
  structs: Record<string, { size: number; fields: Record<string, [number, number]> }>;
}

/** The mirror, renamed to the header's names (the prefixes abi.ts drops put back). */
function mirrorAsC(): Omit<Dump, 'language'> {
  const named = (prefix: string, o: Readonly<Record<string, number>>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [`ISCSI_HBA_${prefix}${k}`, v]));
  const errors = Object.fromEntries(Object.entries(HbaAbiError).map(([k, v]) => [k === 'OK' ? 'ISCSI_HBA_OK' : `ISCSI_HBA_E_${k}`, v]));
  return {
    constants: { ...named('', HBA_CONSTANTS), ...named('CPL_', HbaCplFlag), ...named('NOTICE_', HbaNotice) },
    regions: named('REGION_', HbaRegion),
    selectors: named('SEL_', HbaSelector),
    errors,
    enums: {
      ...named('CMD_', HbaCmdOp),
      ...named('CPL_', HbaCplOp),
      ...named('DIR_', HbaDirection),
      ...named('ATTR_', HbaTaskAttribute),
      ...named('RESPONSE_', HbaServiceResponse),
    },
    structs: Object.fromEntries(
      Object.entries(HBA_STRUCTS).map(([k, v]) => [`iscsi_hba_${k}`, { size: v.size, fields: Object.fromEntries(Object.entries(v.fields).map(([f, fv]) => [f, [...fv]])) }]),
    ),
  };
}

describe.skipIf(!haveCompilers)('the ABI header and its TypeScript mirror (issue 11 item 1)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hba-abi-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function compileAndRun(compiler: string, args: string[], language: string): Dump {
    const exe = path.join(dir, `dump-${language}`);
    execFileSync(compiler, [...args, '-Wall', '-Wextra', '-Werror', `-DLANGUAGE="${language}"`, dump, '-o', exe], { timeout: 60_000 });
    return JSON.parse(execFileSync(exe, { encoding: 'utf8', timeout: 10_000 })) as Dump;
  }

  const builds: Array<[string, string, string[]]> = [
    ['c11', 'gcc', ['-std=c11', '-pedantic']],
    ['c++20', 'g++', ['-std=c++20', '-x', 'c++', '-pedantic']],
  ];

  for (const [language, compiler, args] of builds) {
    it(`as ${language}: every constant, selector, error code, size and offset equals the mirror`, () => {
      const { language: got, ...fromC } = compileAndRun(compiler, args, language);
      expect(got).toBe(language);
      expect(mirrorAsC()).toEqual(fromC);
    });
  }

  it('the fields of every struct tile it: no gap, no overlap (nothing in the header is missing from the dump)', () => {
    for (const [name, s] of Object.entries(HBA_STRUCTS)) {
      const fields = Object.values(s.fields as Record<string, readonly [number, number]>).slice().sort((a, b) => a[0] - b[0]);
      let at = 0;
      for (const [offset, size] of fields) {
        expect(offset, `${name}: a hole or an overlap at ${at}`).toBe(at);
        at = offset + size;
      }
      expect(at, `${name}: fields end before the struct`).toBe(s.size);
    }
  });

  it('the ABI decisions the rest relies on: 64-byte descriptors, indices on their own cache lines, 1 MiB unsplit', () => {
    expect(HBA_STRUCTS.cmd_desc.size).toBe(64);
    expect(HBA_STRUCTS.cpl_desc.size).toBe(64);
    expect(HBA_STRUCTS.cmd_ring.fields.consumer[0] - HBA_STRUCTS.cmd_ring.fields.producer[0]).toBe(HBA_CONSTANTS.CACHE_LINE);
    expect(HBA_CONSTANTS.MAX_TRANSFER).toBeGreaterThanOrEqual(1 << 20);
    expect(HBA_CONSTANTS.MAX_TRANSFER % HBA_CONSTANTS.POOL_SLOT_SIZE).toBe(0);
    expect(HBA_STRUCTS.task_aux.fields.sense[1]).toBe(HBA_CONSTANTS.SENSE_MAX);
    expect(hbaErrorName(1)).toBe('VERSION_MISMATCH');
    expect(hbaErrorName(999)).toBeUndefined();
  });
});
