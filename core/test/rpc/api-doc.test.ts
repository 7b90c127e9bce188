// Issue 9: "docs/api.md generated from [the contract] or checked against it by a test." This is the check: every
// method, notification, type and error code of core/src/rpc/contract.ts is documented with the same param and result
// field names, nothing documented is missing from the contract, and every example request passes the contract's
// params check and every example answer uses only the contract's field names.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JSONRPC_ERRORS, RPC_ERROR_CODES, RPC_METHODS, RPC_NOTIFICATIONS, RPC_PROTOCOL_VERSION, RPC_TYPES, isRpcMethod, type RpcMethod } from '../../src/rpc/contract.js';
import { validateParams } from '../../src/rpc/params.js';

const doc = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/api.md'), 'utf8');

/** The top-level field names of a `{ … }` text, `?` kept: "{ a: string, b?: { c }, d }" → ["a", "b?", "d"]. */
function topLevelFields(braced: string): string[] {
  const body = braced.trim().replace(/^\{/, '').replace(/\}$/, '');
  const fields: string[] = [];
  let depth = 0;
  let start = 0;
  const push = (piece: string) => {
    const m = /^\s*(?:readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)(\??)\s*(?::|$)/.exec(piece);
    if (m) fields.push(`${m[1]}${m[2]}`);
  };
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if ('{[('.includes(ch)) depth++;
    else if ('}])'.includes(ch)) depth--;
    else if (depth === 0 && (ch === ',' || ch === ';' || ch === '\n')) {
      push(body.slice(start, i));
      start = i + 1;
    }
  }
  push(body.slice(start));
  return fields.filter((f) => !f.startsWith('//'));
}

const bare = (fields: readonly string[]) => fields.map((f) => f.replace(/\?$/, '')).sort();

/** `interface Name [extends Base] { … }` declarations of the Types block, fields flattened through `extends`. */
function documentedTypes(): Map<string, string[]> {
  const block = /## Types\s+```ts\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  const raw = new Map<string, { base?: string; fields: string[] }>();
  for (const m of block.matchAll(/interface (\w+)(?: extends (\w+))? \{([\s\S]*?)\n?\}/g)) {
    const body = m[3]!.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
    raw.set(m[1]!, { ...(m[2] ? { base: m[2] } : {}), fields: topLevelFields(`{${body}}`) });
  }
  const flat = new Map<string, string[]>();
  const resolve = (name: string): string[] => {
    const t = raw.get(name);
    if (!t) return [];
    return [...(t.base ? resolve(t.base) : []), ...t.fields];
  };
  for (const name of raw.keys()) flat.set(name, resolve(name));
  return flat;
}

/** The fields a result or params text names: `{ … }`, a documented type (`X`, `X[]`), or `X & { … }`. */
function fieldsOfText(text: string, types: Map<string, string[]>): string[] {
  return text.split('&').flatMap((part) => {
    const p = part.trim();
    if (p.startsWith('{')) return topLevelFields(p);
    const type = types.get(p.replace(/\[\]$/, ''));
    if (!type) throw new Error(`docs/api.md: unknown type ${p}`);
    return type;
  });
}

interface MethodSection {
  readonly heading: string;
  readonly body: string;
}

function methodSections(): Map<string, MethodSection> {
  const methods = /## Methods\n([\s\S]*?)\n## /.exec(doc)?.[1] ?? '';
  const sections = new Map<string, MethodSection>();
  for (const part of methods.split(/\n(?=### )/).filter((p) => p.startsWith('### '))) {
    const name = /^### `([^`]+)`/.exec(part)?.[1];
    if (name) sections.set(name, { heading: part.split('\n')[0]!, body: part });
  }
  return sections;
}

const types = documentedTypes();
const sections = methodSections();

describe('docs/api.md against the RPC contract (core/src/rpc/contract.ts)', () => {
  it('documents exactly the contract\'s methods, each marked mutating exactly when the contract says so', () => {
    expect([...sections.keys()].sort()).toEqual(Object.keys(RPC_METHODS).sort());
    for (const [name, s] of sections) {
      expect(/— (mutating|root only)/.test(s.heading), `${name}: heading says mutating`).toBe(RPC_METHODS[name as RpcMethod].mutating);
    }
  });

  it.each(Object.keys(RPC_METHODS) as RpcMethod[])('%s: the same params (names and which are optional) and result fields', (name) => {
    const s = sections.get(name)!;
    const spec = RPC_METHODS[name];
    const expectedParams = Object.entries(spec.params).map(([k, kind]) => `${k}${kind.endsWith('?') ? '?' : ''}`).sort();
    const params = /Params `(\{[^`]*\})`/.exec(s.body)?.[1];
    if (expectedParams.length === 0) expect(s.body, `${name}: says it takes no params`).toMatch(/No params\./);
    else expect(topLevelFields(params ?? '{}').sort(), `${name}: params`).toEqual(expectedParams);
    const result = /Result:?\s+(?:the \w+ )?`([^`]+)`/.exec(s.body)?.[1];
    expect(result, `${name}: documents its result`).toBeDefined();
    expect(bare(fieldsOfText(result!, types)), `${name}: result fields`).toEqual(bare(spec.result));
  });

  it('the Types block declares each named result type with the contract\'s fields', () => {
    for (const [name, fields] of Object.entries(RPC_TYPES)) {
      expect(types.has(name), `docs/api.md declares ${name}`).toBe(true);
      expect(bare(types.get(name)!), name).toEqual(bare(fields));
    }
  });

  it('documents exactly the contract\'s notifications, with their params', () => {
    const table = /## Notifications[^\n]*\n([\s\S]*?)\n\n/.exec(doc)?.[1] ?? '';
    const rows = [...table.matchAll(/^\| `([a-zA-Z.]+)`\s*\| `([^`]+)`/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(rows.map(([n]) => n).sort()).toEqual(Object.keys(RPC_NOTIFICATIONS).sort());
    for (const [name, params] of rows) {
      expect(bare(fieldsOfText(params, types)), name).toEqual(bare(RPC_NOTIFICATIONS[name as keyof typeof RPC_NOTIFICATIONS]));
    }
  });

  it('documents every error code the contract has, and no code it lacks; every JSON-RPC error number; the protocol', () => {
    for (const code of RPC_ERROR_CODES) expect(doc, code).toMatch(new RegExp(`\`${code}\``));
    const mentioned = new Set([...doc.matchAll(/\bISCSI_[A-Z0-9_]*[A-Z0-9](?!_?\*)\b/g)].map((m) => m[0]));
    for (const code of mentioned) expect(RPC_ERROR_CODES, `docs/api.md mentions ${code}`).toContain(code);
    for (const n of Object.values(JSONRPC_ERRORS)) expect(doc).toContain(`\`${n}\``);
    expect(doc).toMatch(new RegExp(`^# iscsid JSON-RPC API \\(protocol ${RPC_PROTOCOL_VERSION}\\)`, 'm'));
  });

  it('every example request passes the contract\'s params check; every example answer uses only contract fields', () => {
    const requests = [...doc.matchAll(/^→ (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { method: string; params?: unknown; id: number });
    const answers = new Map<number, unknown>();
    for (const m of doc.matchAll(/^← (.*)$/gm)) {
      const line = JSON.parse(m[1]!) as { id?: number; result?: unknown; method?: string; params?: Record<string, unknown> };
      if (line.method !== undefined) {
        expect(Object.keys(RPC_NOTIFICATIONS)).toContain(line.method);
        for (const key of Object.keys(line.params ?? {})) expect(RPC_NOTIFICATIONS[line.method as keyof typeof RPC_NOTIFICATIONS]).toContain(key);
      } else if (line.result !== undefined) {
        answers.set(line.id!, line.result);
      }
    }
    expect(requests.length).toBeGreaterThanOrEqual(Object.keys(RPC_METHODS).length - 1); // secrets.reveal has none
    for (const r of requests) {
      expect(isRpcMethod(r.method), r.method).toBe(true);
      expect(() => validateParams(r.method as RpcMethod, r.params), `${r.method} example params`).not.toThrow();
      const result = answers.get(r.id);
      if (result === undefined || typeof result !== 'object' || result === null) continue;
      const fields = RPC_METHODS[r.method as RpcMethod].result as readonly string[];
      for (const item of Array.isArray(result) ? result : [result]) {
        for (const key of Object.keys(item as object)) if (key !== '…') expect(fields, `${r.method} example answer`).toContain(key);
      }
    }
  });

  it('docs/security.md lists the read-only and the mutating methods as the contract marks them', () => {
    const security = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/security.md'), 'utf8');
    const list = (re: RegExp) => [...(re.exec(security)?.[1] ?? '').matchAll(/`([a-zA-Z.]+)`/g)].map((m) => m[1]!).sort();
    const methods = Object.entries(RPC_METHODS);
    expect(list(/\*\*read-only\*\* methods:([\s\S]*?)\. The/)).toEqual(methods.filter(([, m]) => !m.mutating).map(([n]) => n).sort());
    expect(list(/\*\*mutating\*\* methods —([\s\S]*?)—/)).toEqual(methods.filter(([, m]) => m.mutating).map(([n]) => n).sort());
  });
});
