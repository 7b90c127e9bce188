import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ArgumentError, IscsiError, StorageError } from '../../src/errors.js';
import { requireRoot } from '../../../test/src/require-tool.js';
import {
  FileSecretStore,
  KeychainSecretStore,
  MAX_SECRET_BYTES,
  SECRETS_FILE_NAME,
  discoverySecretRef,
  openSecretStore,
  redactSecrets,
  type KeyringBinding,
  type SecretRef,
} from '../../src/daemon/secrets.js';

const TARGET = 'iqn.2001-04.com.example:storage.disk1';
const PORTAL = '192.0.2.10:3260';
const SECRET = 'chap-secret-0123456789';
const node = (kind: 'password' | 'password_in', portal: string | undefined = PORTAL, targetName = TARGET): SecretRef => ({
  targetName,
  portal,
  kind,
});
/** A secret shared by every portal of TARGET (no portal in the ref). */
const shared = (kind: 'password' | 'password_in'): SecretRef => ({ targetName: TARGET, kind });

let root: string;
let stateDir: string;
beforeEach(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'iscsid-secrets-'));
  stateDir = join(root, 'state');
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fsp.rm(root, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** Everything an error could show a log, the RPC or a terminal. */
function renderings(e: unknown): string {
  return [String(e), inspect(e, { depth: 10 }), JSON.stringify(e), (e as Error).stack ?? ''].join('\n');
}

describe('FileSecretStore', () => {
  it('round-trips node and discovery secrets, each under its own key', async () => {
    const store = new FileSecretStore(stateDir);
    expect(store.backend).toBe('file');
    expect(await store.get(node('password'))).toBeUndefined();
    await store.set(node('password'), SECRET);
    await store.set(node('password_in'), 'target-secret-9876');
    await store.set(shared('password'), 'any-portal');
    await store.set(discoverySecretRef('password', PORTAL), 'disc-secret');
    await store.set(discoverySecretRef('password'), 'default-disc');
    expect(await store.get(node('password'))).toBe(SECRET);
    expect(await store.get(node('password_in'))).toBe('target-secret-9876');
    expect(await store.get(shared('password'))).toBe('any-portal');
    expect(await store.get(discoverySecretRef('password', PORTAL))).toBe('disc-secret');
    expect(await store.get(discoverySecretRef('password'))).toBe('default-disc');
    expect(await store.get(discoverySecretRef('password_in', PORTAL))).toBeUndefined();
    expect(await store.has(node('password'))).toBe(true);
    // A second instance reads what the first wrote: nothing lives only in memory.
    expect(await new FileSecretStore(stateDir).get(node('password'))).toBe(SECRET);
  });

  it('keeps refs apart whose parts contain the separator "|" and the escape "%"', async () => {
    const store = new FileSecretStore(stateDir);
    const a: SecretRef = { targetName: 'iqn.x|a', portal: 'b', kind: 'password' };
    const b: SecretRef = { targetName: 'iqn.x', portal: 'a|b', kind: 'password' };
    const c: SecretRef = { targetName: 'iqn.x%7Ca', portal: 'b', kind: 'password' };
    await store.set(a, 'secret-a');
    await store.set(b, 'secret-b');
    await store.set(c, 'secret-c');
    expect([await store.get(a), await store.get(b), await store.get(c)]).toEqual(['secret-a', 'secret-b', 'secret-c']);
    expect(await store.deleteAll('iqn.x')).toBe(1);
    expect(await store.get(b)).toBeUndefined();
    expect(await store.get(a)).toBe('secret-a');
  });

  it('delete reports whether there was a secret', async () => {
    const store = new FileSecretStore(stateDir);
    expect(await store.delete(node('password'))).toBe(false);
    await store.set(node('password'), SECRET);
    expect(await store.delete(node('password'))).toBe(true);
    expect(await store.get(node('password'))).toBeUndefined();
    expect(await store.has(node('password'))).toBe(false);
    expect(await store.delete(node('password'))).toBe(false);
  });

  it('deleteAll removes one portal of a target, or every portal when none is given, and nothing else', async () => {
    const store = new FileSecretStore(stateDir);
    const other = '198.51.100.7:3260';
    await store.set(node('password'), 's1-secret');
    await store.set(node('password_in'), 's2-secret');
    await store.set(node('password', other), 's3-secret');
    await store.set(shared('password'), 's4-secret');
    await store.set(node('password', PORTAL, 'iqn.2001-04.com.example:other'), 'keep-me');
    await store.set(discoverySecretRef('password', PORTAL), 'keep-disc');

    expect(await store.deleteAll(TARGET, PORTAL)).toBe(2);
    expect(await store.get(node('password', other))).toBe('s3-secret');
    expect(await store.deleteAll(TARGET)).toBe(2);
    expect(await store.deleteAll(TARGET)).toBe(0);
    expect(await store.get(node('password', PORTAL, 'iqn.2001-04.com.example:other'))).toBe('keep-me');
    expect(await store.get(discoverySecretRef('password', PORTAL))).toBe('keep-disc');
    expect(await store.deleteAll('')).toBe(1); // '' is the discovery "target"
  });

  it('creates the state dir 0700 and the file 0600, whatever the umask', async () => {
    const old = process.umask(0o000);
    try {
      await new FileSecretStore(stateDir).set(node('password'), SECRET);
    } finally {
      process.umask(old);
    }
    expect((await fsp.stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await fsp.stat(join(stateDir, SECRETS_FILE_NAME))).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(await fsp.readFile(join(stateDir, SECRETS_FILE_NAME), 'utf8')) as { version: number };
    expect(doc.version).toBe(1);
  });

  it('leaves no temp file and keeps the old secrets when the rename fails mid-write', async () => {
    const store = new FileSecretStore(stateDir);
    await store.set(node('password'), SECRET);
    const renamed = vi.spyOn(fsp, 'rename').mockRejectedValueOnce(Object.assign(new Error('simulated EIO'), { code: 'EIO' }));
    const e = await rejection(store.set(node('password'), 'replacement-secret'));
    expect(renamed).toHaveBeenCalledTimes(1);
    expect(e).toBeInstanceOf(StorageError);
    expect((e as IscsiError).code).toBe('ISCSI_STORAGE_FAILED');
    expect(renderings(e)).not.toContain('replacement-secret');
    expect(await fsp.readdir(stateDir)).toEqual([SECRETS_FILE_NAME]);
    expect(await store.get(node('password'))).toBe(SECRET);
    // The next write works: the failed one left no lock held.
    await store.set(node('password'), 'replacement-secret');
    expect(await store.get(node('password'))).toBe('replacement-secret');
  });

  it('sweeps the temp file a killed writer left behind, and only that', async () => {
    await fsp.mkdir(stateDir, { mode: 0o700 });
    const stale = join(stateDir, `${SECRETS_FILE_NAME}.4242.deadbeef0001.tmp`);
    const unrelated = join(stateDir, 'nodes.json');
    await fsp.writeFile(stale, '{"version":1,"secrets":{"x|y|password":"half-written"}}', { mode: 0o600 });
    await fsp.writeFile(unrelated, '{}');
    expect(await new FileSecretStore(stateDir).get(node('password'))).toBeUndefined();
    expect((await fsp.readdir(stateDir)).sort()).toEqual(['nodes.json']);
  });

  it('loses no secret when many sets race, on one instance or several', async () => {
    const a = new FileSecretStore(stateDir);
    const b = new FileSecretStore(join(root, 'state', '.', '')); // same file, spelled differently
    const refs = Array.from({ length: 40 }, (_, i) => node(i % 2 ? 'password' : 'password_in', `192.0.2.${i >> 1}:3260`));
    await Promise.all(refs.map((ref, i) => (i % 3 ? a : b).set(ref, `secret-number-${i}`)));
    const c = new FileSecretStore(stateDir);
    expect(await Promise.all(refs.map((ref) => c.get(ref)))).toEqual(refs.map((_, i) => `secret-number-${i}`));
    const deleted = await Promise.all([a.deleteAll(TARGET, '192.0.2.0:3260'), b.delete(refs[2]!), a.set(refs[3]!, 'new-3')]);
    expect(deleted.slice(0, 2)).toEqual([2, true]);
    expect(await c.get(refs[3]!)).toBe('new-3');
  });

  it('refuses a secrets file readable by group or others, without repairing it or showing a secret', async () => {
    const store = new FileSecretStore(stateDir);
    await store.set(node('password'), SECRET);
    const file = join(stateDir, SECRETS_FILE_NAME);
    for (const mode of [0o644, 0o640, 0o604, 0o602]) {
      await fsp.chmod(file, mode);
      const ops = [
        () => store.get(node('password')),
        () => store.set(node('password_in'), 'another-secret'),
        () => store.deleteAll(TARGET),
      ];
      for (const op of ops) {
        const e = await rejection(op());
        expect(e).toBeInstanceOf(StorageError);
        expect((e as IscsiError).code).toBe('ISCSI_STORAGE_UNSAFE');
        expect((e as IscsiError).hint).toContain('chmod 600');
        expect(renderings(e)).not.toContain(SECRET);
        expect(renderings(e)).not.toContain('another-secret');
      }
      expect((await fsp.stat(file)).mode & 0o777).toBe(mode); // refused, not silently repaired
    }
    await fsp.chmod(file, 0o600);
    expect(await store.get(node('password'))).toBe(SECRET);
  });

  it.runIf(requireRoot('chown to another user'))('refuses a secrets file owned by another user', async () => {
    const store = new FileSecretStore(stateDir);
    await store.set(node('password'), SECRET);
    await fsp.chown(join(stateDir, SECRETS_FILE_NAME), 1, 1);
    const e = await rejection(store.get(node('password')));
    expect(e).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
    expect(renderings(e)).not.toContain(SECRET);
  });

  it('refuses a state dir writable by others (anyone could swap the file) and a symlinked secrets file', async () => {
    await fsp.mkdir(stateDir, { mode: 0o700 });
    await fsp.chmod(stateDir, 0o777);
    expect(await rejection(new FileSecretStore(stateDir).get(node('password')))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
    await fsp.chmod(stateDir, 0o700);
    const elsewhere = join(root, 'elsewhere.json');
    await fsp.writeFile(elsewhere, '{"version":1,"secrets":{}}', { mode: 0o600 });
    await fsp.symlink(elsewhere, join(stateDir, SECRETS_FILE_NAME));
    expect(await rejection(new FileSecretStore(stateDir).get(node('password')))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/symlink/) });
  });

  it('issue 10: the directory is checked at every use — made 0777 or 0770 after the first use, the next get and set are refused', async () => {
    const store = new FileSecretStore(stateDir);
    await store.set(node('password'), SECRET);
    expect(await store.get(node('password'))).toBe(SECRET);
    for (const mode of [0o777, 0o770]) {
      await fsp.chmod(stateDir, mode);
      expect(await rejection(store.get(node('password')))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
      expect(await rejection(store.set(node('password_in'), 'x-secret'))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
    }
    await fsp.chmod(stateDir, 0o700);
    expect(await store.get(node('password'))).toBe(SECRET);
  });

  it('reports a corrupt file without quoting it (JSON errors would show the secret next to the fault)', async () => {
    await fsp.mkdir(stateDir, { mode: 0o700 });
    const file = join(stateDir, SECRETS_FILE_NAME);
    const texts = [
      `{"version":1,"secrets":{"a|b|password":"${SECRET}"`, // truncated
      `{"version":1,"secrets":{"a|b|password":${SECRET}}}`, // unquoted: V8 would quote it back
      `["${SECRET}"]`,
      `{"version":1,"secrets":{"k":["${SECRET}"]}}`,
    ];
    for (const text of texts) {
      await fsp.writeFile(file, text, { mode: 0o600 });
      const e = await rejection(new FileSecretStore(stateDir).get(node('password')));
      expect(e).toMatchObject({ code: 'ISCSI_STORAGE_FAILED' });
      expect(renderings(e)).not.toContain(SECRET);
    }
  });

  it('shows no secret through toString, toJSON or inspect, and rejects bad secrets without quoting them', async () => {
    const store = new FileSecretStore(stateDir);
    await store.set(node('password'), SECRET);
    await store.get(node('password'));
    for (const shown of [String(store), JSON.stringify(store), inspect(store, { showHidden: true, depth: 10 })]) {
      expect(shown).not.toContain(SECRET);
      expect(shown).toContain(stateDir);
    }
    const long = 'x'.repeat(MAX_SECRET_BYTES) + 'TAIL-OF-A-LONG-SECRET';
    for (const bad of [long, 'with\u0000nul', 'lone\ud800half']) {
      const e = await rejection(store.set(node('password'), bad));
      expect(e).toBeInstanceOf(ArgumentError);
      expect(renderings(e)).not.toContain('TAIL-OF-A-LONG-SECRET');
      expect(renderings(e)).not.toContain(bad);
    }
    expect(await store.get(node('password'))).toBe(SECRET);
  });

  it('accepts a secret of exactly MAX_SECRET_BYTES UTF-8 bytes and refuses one byte more', async () => {
    const store = new FileSecretStore(stateDir);
    const atLimit = 'é'.repeat(MAX_SECRET_BYTES / 2); // 2 bytes each
    await store.set(node('password'), atLimit);
    expect(await store.get(node('password'))).toBe(atLimit);
    expect(await rejection(store.set(node('password'), `${atLimit}a`))).toBeInstanceOf(ArgumentError);
  });

  it('rejects malformed refs with ArgumentError: empty secret (RFC 1994 §2), bad kind, mixed discovery keys', async () => {
    const store = new FileSecretStore(stateDir);
    const bad: Array<[SecretRef, string]> = [
      [node('password'), ''],
      [{ targetName: TARGET, kind: 'chap' as never }, SECRET],
      [{ targetName: '', kind: 'password' }, SECRET], // node secrets need a target
      [{ targetName: TARGET, kind: 'discovery.password' }, SECRET], // discovery secrets have none
      [{ targetName: TARGET, portal: '', kind: 'password' }, SECRET],
      [{ targetName: 'iqn.a\nb', kind: 'password' }, SECRET],
      [{ targetName: 'i'.repeat(224), kind: 'password' }, SECRET], // RFC 7143 §4.2.7.1: names ≤ 223 bytes
      [null as never, SECRET],
    ];
    for (const [ref, secret] of bad) {
      expect(await rejection(store.set(ref, secret))).toBeInstanceOf(ArgumentError);
    }
    expect(await rejection(store.get({ targetName: 42 as never, kind: 'password' }))).toBeInstanceOf(ArgumentError);
    expect(await rejection(store.deleteAll(TARGET, ''))).toBeInstanceOf(ArgumentError);
    expect(() => new FileSecretStore('')).toThrow(ArgumentError);
  });

  it('property: any ref and secret round-trips, or set throws ArgumentError and changes nothing', async () => {
    const store = new FileSecretStore(stateDir);
    const file = join(stateDir, SECRETS_FILE_NAME);
    const anyString = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
      fc.constantFrom('', '|', '%7C', '%25', '__proto__', 'constructor', TARGET),
    );
    const ref = fc.record(
      {
        targetName: anyString,
        portal: fc.option(anyString, { nil: undefined }),
        kind: fc.constantFrom('password', 'password_in', 'discovery.password', 'discovery.password_in'),
      },
      { requiredKeys: ['targetName', 'kind'] },
    ) as fc.Arbitrary<SecretRef>;
    const secret = fc.oneof(anyString, fc.string({ unit: 'binary', minLength: 1000, maxLength: 5000 }));
    await fc.assert(
      fc.asyncProperty(ref, secret, async (r, s) => {
        let stored = true;
        const before = await fsp.readFile(file).catch(() => undefined);
        try {
          await store.set(r, s);
        } catch (e) {
          expect(await fsp.readFile(file).catch(() => undefined)).toEqual(before);
          expect(e).toBeInstanceOf(ArgumentError);
          expect((e as IscsiError).code).toBe('ISCSI_BAD_ARGUMENT');
          if (s.length > 8) expect(renderings(e)).not.toContain(s);
          stored = false;
        }
        if (s === '' || Buffer.byteLength(s) > MAX_SECRET_BYTES) expect(stored).toBe(false);
        if (!stored) return;
        expect(await store.get(r)).toBe(s);
        expect(await store.delete(r)).toBe(true);
        expect(await store.has(r)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('property: well-formed refs with any 1..4096-byte secret always round-trip', async () => {
    const store = new FileSecretStore(stateDir);
    const printable = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
      .filter((s) => !/[\u0000-\u001f\u007f]/.test(s) && Buffer.byteLength(s) <= 190);
    const ref = fc.record({
      targetName: printable.map((s) => `iqn.2001-04.com.example:${s}`),
      portal: fc.option(printable, { nil: undefined }),
      kind: fc.constantFrom('password' as const, 'password_in' as const),
    });
    const secret = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 1500 })
      .filter((s) => !s.includes('\u0000') && Buffer.byteLength(s) <= MAX_SECRET_BYTES);
    await fc.assert(
      fc.asyncProperty(ref, secret, async (r, s) => {
        await store.set(r, s);
        expect(await store.get(r)).toBe(s);
      }),
      { numRuns: 200 },
    );
  });
});

describe('openSecretStore', () => {
  it.runIf(process.platform === 'linux')('picks the file store on Linux, even when the Keychain is preferred', async () => {
    for (const prefer of [undefined, 'keychain', 'file'] as const) {
      const store = await openSecretStore({ stateDir, prefer });
      expect(store.backend).toBe('file');
      expect(store).toBeInstanceOf(FileSecretStore);
      expect((store as FileSecretStore).path).toBe(join(stateDir, SECRETS_FILE_NAME));
    }
  });

  it('picks the file store everywhere when told to', async () => {
    expect((await openSecretStore({ stateDir, prefer: 'file' })).backend).toBe('file');
  });

  it('rejects an empty service name with ArgumentError', async () => {
    expect(await rejection(openSecretStore({ stateDir, service: '' }))).toBeInstanceOf(ArgumentError);
  });
});

/** An in-memory stand-in for @napi-rs/keyring: the real Keychain only exists on macOS. */
function fakeKeyring(failing = false): KeyringBinding & { items: Map<string, string> } {
  const items = new Map<string, string>();
  const fail = (): never => {
    throw new Error('keychain locked');
  };
  return {
    items,
    AsyncEntry: class {
      constructor(
        private readonly service: string,
        private readonly account: string,
      ) {}
      #key = (): string => `${this.service}\u0000${this.account}`;
      async setPassword(password: string): Promise<void> {
        if (failing) fail();
        items.set(this.#key(), password);
      }
      async getPassword(): Promise<string | null> {
        if (failing) fail();
        return items.get(this.#key()) ?? null;
      }
      async deletePassword(): Promise<boolean> {
        if (failing) fail();
        return items.delete(this.#key());
      }
    },
    async findCredentialsAsync(service: string) {
      if (failing) fail();
      return [...items]
        .filter(([key]) => key.startsWith(`${service}\u0000`))
        .map(([key, password]) => ({ account: key.slice(service.length + 1), password }));
    },
  };
}

describe('KeychainSecretStore (against a fake binding; the real Keychain is untested on Linux)', () => {
  it('stores one item per ref under the service, with the ref encoded in the account name', async () => {
    const keyring = fakeKeyring();
    const store = new KeychainSecretStore(keyring);
    expect(store.backend).toBe('keychain');
    await store.set(node('password'), SECRET);
    await store.set(discoverySecretRef('password_in'), 'disc-secret');
    expect([...keyring.items.keys()].sort()).toEqual(
      ['io.github.iscsi-initiator\u0000||discovery.password_in', `io.github.iscsi-initiator\u0000${TARGET}|${PORTAL}|password`].sort(),
    );
    expect(await store.get(node('password'))).toBe(SECRET);
    expect(await store.has(node('password_in'))).toBe(false);
    expect(await store.delete(node('password'))).toBe(true);
    expect(await store.delete(node('password'))).toBe(false);
  });

  it('deleteAll removes only the matching refs and ignores accounts that are not refs', async () => {
    const keyring = fakeKeyring();
    keyring.items.set('io.github.iscsi-initiator\u0000iscsid-probe', 'x');
    const store = new KeychainSecretStore(keyring, 'io.github.iscsi-initiator');
    const other = new KeychainSecretStore(keyring, 'another.service');
    await store.set(node('password'), 'a-secret');
    await store.set(node('password_in', '198.51.100.7:3260'), 'b-secret');
    await other.set(node('password'), 'c-secret');
    expect(await store.deleteAll(TARGET, PORTAL)).toBe(1);
    expect(await store.deleteAll(TARGET)).toBe(1);
    expect(await other.get(node('password'))).toBe('c-secret');
    expect(keyring.items.size).toBe(2);
  });

  it('turns keyring failures into typed errors and validates like the file store', async () => {
    const store = new KeychainSecretStore(fakeKeyring(true));
    const e = await rejection(store.set(node('password'), SECRET));
    expect(e).toBeInstanceOf(StorageError);
    expect(e).toMatchObject({ code: 'ISCSI_STORAGE_FAILED' });
    expect(renderings(e)).not.toContain(SECRET);
    expect(await rejection(store.get(node('password')))).toBeInstanceOf(StorageError);
    expect(await rejection(store.set(node('password'), ''))).toBeInstanceOf(ArgumentError);
    expect(inspect(store)).toBe('KeychainSecretStore(io.github.iscsi-initiator)');
  });
});

describe('redactSecrets', () => {
  it('hides every occurrence, the longest secret first so none leaves a tail', () => {
    expect(redactSecrets('user=a secret=abcdef again abcdef and abc', ['abc', 'abcdef'])).toBe('user=a secret=*** again *** and ***');
    expect(redactSecrets('nothing here', new Set(['', 'zzz']))).toBe('nothing here');
    expect(redactSecrets('a|b.c*', ['|b.', '*'])).toBe('a***c***'); // no regex meaning, and the mask is not re-masked
    expect(redactSecrets('xabcdex', ['abc', 'cde', 'x'])).toBe('******de***');
  });

  it('property: no secret (without "*", the mask itself) survives anywhere in the output', () => {
    const secretArb = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes('*'));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 5 }), secretArb), { maxLength: 12 }),
        fc.array(secretArb, { minLength: 1, maxLength: 4 }),
        (parts, secrets) => {
          const out = redactSecrets(parts.concat(secrets).join(''), secrets);
          for (const s of secrets) expect(out).not.toContain(s);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
