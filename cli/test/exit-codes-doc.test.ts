// docs/api.md's error-code table says which exit code iscsiadm gives each data.code (open-iscsi's numbers): the CLI's
// mapping must agree, and cover every code (issue 9: callers branch on codes, never on text).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RPC_ERROR_CODES } from '@iscsi-initiator/core/rpc';
import { exitCodeFor } from '../src/exit-codes.js';

const doc = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/api.md'), 'utf8');

describe('exit codes in docs/api.md agree with exitCodeFor', () => {
  it('every data.code row lists the exit code iscsiadm gives it', () => {
    const seen = new Set<string>();
    for (const row of doc.matchAll(/^\| (`ISCSI_[^|]+)\|[^|]+\| ([\d, ]+) \|$/gm)) {
      const exits = row[2]!.split(',').map((n) => Number(n.trim()));
      for (const code of row[1]!.matchAll(/`(ISCSI_[A-Z0-9_]+)`/g)) {
        seen.add(code[1]!);
        expect(exits, code[1]).toContain(exitCodeFor(code[1] as never));
      }
    }
    expect([...seen].sort()).toEqual([...RPC_ERROR_CODES].sort());
  });

  it('the codes that replaced text matching: session exists 15, no session 2, no node 21', () => {
    expect(exitCodeFor('ISCSI_SESSION_EXISTS')).toBe(15);
    expect(exitCodeFor('ISCSI_SESSION_NOT_FOUND')).toBe(2);
    expect(exitCodeFor('ISCSI_NODE_NOT_FOUND')).toBe(21);
  });
});
