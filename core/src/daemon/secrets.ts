/**
 * Where iscsid keeps CHAP secrets (a node's node.session.auth.password / password_in, and discovery's): the macOS
 * Keychain when it works, else a 0600 file in the state dir, as open-iscsi keeps them on Linux. Secrets never reach
 * the config file, a log line, an RPC result, argv, an error message or `inspect` output of these stores.
 *
 * Keys. A secret belongs to (targetName, portal, kind):
 *  - node secrets: `targetName` is the target's iSCSI name (non-empty); `portal` is the node's portal as the node DB
 *    spells it (e.g. "10.0.0.1:3260"), or omitted for a secret shared by every portal of the target;
 *  - discovery secrets (kind 'discovery.*'): `targetName` is '' (a SendTargets session has no target, RFC 7143
 *    §4.3); `portal` is the discovery portal, or omitted for the default discovery secret (iscsid.conf's
 *    discovery.sendtargets.auth.*). `discoverySecretRef` builds these.
 * Both backends store a ref under one account string, `escape(targetName)|escape(portal ?? '')|kind`, where escape
 * turns only '%' and '|' into %25 and %7C so the encoding is one-to-one and stays readable.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { ArgumentError, StorageError, storageErrorFrom, type IscsiError } from '../errors.js';
import { findInOrder } from '../rpc/secret-rules.js';
import { requireBesideExecutable } from '../single-executable.js';
import { checkFolder } from './file-safety.js';

export type SecretKind = 'password' | 'password_in' | 'discovery.password' | 'discovery.password_in';

/** See the module comment: discovery kinds take `targetName: ''` and the discovery portal (or none: the default). */
export interface SecretRef {
  readonly targetName: string;
  readonly portal?: string | undefined;
  readonly kind: SecretKind;
}

export interface SecretStore {
  readonly backend: 'keychain' | 'file';
  get(ref: SecretRef): Promise<string | undefined>;
  set(ref: SecretRef, secret: string): Promise<void>;
  /** True when a secret was there to delete. */
  delete(ref: SecretRef): Promise<boolean>;
  /** Deletes every secret of `targetName` ('' for discovery) at `portal`, or at every portal when it is omitted. */
  deleteAll(targetName: string, portal?: string): Promise<number>;
  has(ref: SecretRef): Promise<boolean>;
}

export const SECRET_KINDS: readonly SecretKind[] = ['password', 'password_in', 'discovery.password', 'discovery.password_in'];
export const DEFAULT_SECRET_SERVICE = 'io.github.iscsi-initiator';
export const SECRETS_FILE_NAME = 'secrets.json';
/** Far above any real CHAP secret (open-iscsi caps them at 256 bytes); bounds what one RPC can make us store. */
export const MAX_SECRET_BYTES = 4096;
/** RFC 7143 §4.2.7.1: an iSCSI name is at most 223 bytes. */
const MAX_TARGET_NAME_BYTES = 223;
/** A 253-byte DNS name, brackets, ':65535' and ',tpgt' fit with room to spare. */
const MAX_PORTAL_BYTES = 300;

/** A discovery secret's ref: for the SendTargets portal `portal`, or the default one when it is omitted. */
export function discoverySecretRef(kind: 'password' | 'password_in', portal?: string): SecretRef {
  return { targetName: '', portal, kind: kind === 'password' ? 'discovery.password' : 'discovery.password_in' };
}

/** The secret that applies to `ref`: the portal's own, else the target's (or the default discovery secret). */
export async function findSecret(store: SecretStore, ref: SecretRef): Promise<string | undefined> {
  return (await findInOrder(ref, (r) => store.get(r)))?.value;
}

/**
 * Replaces every occurrence of each secret in a log line with "***". One left-to-right pass over an alternation
 * sorted longest first: at each place the longest secret wins, and a mask is never matched again.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  const sorted = [...new Set(secrets)].filter((s) => typeof s === 'string' && s.length > 0).sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return text;
  const pattern = new RegExp(sorted.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return text.replace(pattern, '***');
}

// ---------------------------------------------------------------------------------------------------------------
// Validation and the account encoding shared by both backends. Messages name the field, never a value.

const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u; // with the u flag only an unpaired half matches; keychains cannot store one

function badArgument(message: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', message);
}

function checkText(value: unknown, what: string, maxBytes: number): asserts value is string {
  if (typeof value !== 'string') throw badArgument(`${what} must be a string`);
  if (Buffer.byteLength(value) > maxBytes) throw badArgument(`${what} is longer than ${maxBytes} bytes`);
  if (CONTROL.test(value)) throw badArgument(`${what} contains a control character`);
  if (LONE_SURROGATE.test(value)) throw badArgument(`${what} is not well-formed Unicode`);
}

function isDiscoveryKind(kind: SecretKind): boolean {
  return kind === 'discovery.password' || kind === 'discovery.password_in';
}

function checkTarget(targetName: unknown, portal: unknown): void {
  checkText(targetName, 'target name', MAX_TARGET_NAME_BYTES);
  if (portal !== undefined) {
    checkText(portal, 'portal', MAX_PORTAL_BYTES);
    if (portal === '') throw badArgument('portal must not be empty; omit it instead');
  }
}

function checkRef(ref: unknown): asserts ref is SecretRef {
  if (typeof ref !== 'object' || ref === null) throw badArgument('a secret reference must be an object');
  const { targetName, portal, kind } = ref as Record<string, unknown>;
  if (!SECRET_KINDS.includes(kind as SecretKind)) throw badArgument(`secret kind must be one of ${SECRET_KINDS.join(', ')}`);
  checkTarget(targetName, portal);
  if (isDiscoveryKind(kind as SecretKind) !== (targetName === '')) {
    throw badArgument('discovery secrets take an empty target name and node secrets a non-empty one');
  }
}

function checkSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string') throw badArgument('a secret must be a string');
  // RFC 1994 §2: the CHAP secret is at least one octet. The §9.2.1 96-bit minimum is the login layer's call (IPsec).
  if (secret.length === 0) throw badArgument('a secret must not be empty');
  if (Buffer.byteLength(secret) > MAX_SECRET_BYTES) throw badArgument(`a secret is longer than ${MAX_SECRET_BYTES} bytes`);
  if (secret.includes('\u0000')) throw badArgument('a secret must not contain NUL');
  if (LONE_SURROGATE.test(secret)) throw badArgument('a secret is not well-formed Unicode');
}

const escapePart = (s: string): string => s.replace(/%/g, '%25').replace(/\|/g, '%7C');
const unescapePart = (s: string): string => s.replace(/%(25|7C)/g, (_, hex: string) => (hex === '25' ? '%' : '|'));

function accountOf(ref: SecretRef): string {
  return `${escapePart(ref.targetName)}|${escapePart(ref.portal ?? '')}|${ref.kind}`;
}

/** The inverse of `accountOf`, or undefined for an account that is not ours (the probe, a stray entry). */
function refOf(account: string): SecretRef | undefined {
  const parts = account.split('|');
  if (parts.length !== 3) return undefined;
  const [target, portal, kind] = parts as [string, string, string];
  if (!SECRET_KINDS.includes(kind as SecretKind)) return undefined;
  return { targetName: unescapePart(target), portal: portal === '' ? undefined : unescapePart(portal), kind: kind as SecretKind };
}

function matches(ref: SecretRef, targetName: string, portal: string | undefined): boolean {
  return ref.targetName === targetName && (portal === undefined || ref.portal === portal);
}

/** The store refused a file or folder as unsafe (ISCSI_STORAGE_UNSAFE), or it holds something we never write (FAILED). */
function storeError(message: string, options: { cause?: unknown; hint?: string; code?: 'ISCSI_STORAGE_UNSAFE' | 'ISCSI_STORAGE_FAILED' } = {}): IscsiError {
  const { code = 'ISCSI_STORAGE_UNSAFE', ...rest } = options;
  return new StorageError(code, message, rest);
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    ? (e as { code: string }).code
    : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// File backend

/** One write queue per secrets file in this process, shared by every store instance on it. */
const writeQueues = new Map<string, Promise<void>>();

async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (writeQueues.get(key) ?? Promise.resolve()).then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  writeQueues.set(key, tail);
  try {
    return await run;
  } finally {
    if (writeQueues.get(key) === tail) writeQueues.delete(key);
  }
}

/** Thousands of nodes' worth of secrets; a bigger file is not ours, and we will not read it into memory. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
const TEMP_NAME = /^secrets\.json\.\d+\.[0-9a-f]+\.tmp$/;

/**
 * `stateDir/secrets.json`: `{"version":1,"secrets":{"<account>":"<secret>"}}`, mode 0600, owned by us, in a
 * directory we create 0700. Each write goes to a 0600 temp file that is fsynced and renamed over the old one, so a
 * reader sees the old or the new file, never half of one; writes are serialized per file within the process (one
 * process — the daemon — owns the state dir). Leftover temp files of a killed writer are swept on first use.
 *
 * A secrets file readable or writable by group/other, or owned by someone else, is refused rather than repaired
 * (ISCSI_STORAGE_UNSAFE): its secrets may already have been read, and fixing the mode silently would hide that they
 * need changing. The same goes for a state dir writable by group/other (anyone could swap the file), checked at every
 * use. A full disk is ISCSI_STORAGE_FULL, another I/O error ISCSI_STORAGE_FAILED. No secret is cached in memory.
 */
export class FileSecretStore implements SecretStore {
  readonly backend = 'file' as const;
  readonly dir: string;
  readonly path: string;
  #swept = false;

  constructor(stateDir: string) {
    if (typeof stateDir !== 'string' || stateDir === '') throw badArgument('the secrets directory must be a non-empty path');
    this.dir = resolve(stateDir);
    this.path = join(this.dir, SECRETS_FILE_NAME);
  }

  async get(ref: SecretRef): Promise<string | undefined> {
    checkRef(ref);
    await this.#prepare();
    return (await this.#read()).get(accountOf(ref));
  }

  async has(ref: SecretRef): Promise<boolean> {
    return (await this.get(ref)) !== undefined;
  }

  async set(ref: SecretRef, secret: string): Promise<void> {
    checkRef(ref);
    checkSecret(secret);
    await this.#update((all) => {
      all.set(accountOf(ref), secret);
      return true;
    });
  }

  async delete(ref: SecretRef): Promise<boolean> {
    checkRef(ref);
    let deleted = false;
    await this.#update((all) => (deleted = all.delete(accountOf(ref))));
    return deleted;
  }

  async deleteAll(targetName: string, portal?: string): Promise<number> {
    checkTarget(targetName, portal);
    let count = 0;
    await this.#update((all) => {
      for (const account of [...all.keys()]) {
        const ref = refOf(account);
        if (ref !== undefined && matches(ref, targetName, portal)) count += all.delete(account) ? 1 : 0;
      }
      return count > 0;
    });
    return count;
  }

  toString(): string {
    return `FileSecretStore(${this.path})`;
  }
  toJSON(): Record<string, unknown> {
    return { backend: this.backend, path: this.path };
  }
  [inspect.custom](): string {
    return this.toString();
  }

  /** Runs `change` on the current secrets under the write lock; writes the file back only when it says so. */
  async #update(change: (all: Map<string, string>) => boolean): Promise<void> {
    await this.#prepare();
    await serialized(this.path, async () => {
      const all = await this.#read();
      if (change(all)) await this.#write(all);
    });
  }

  /**
   * Before every use (issue 10: a folder made 0777 after the first use must not still log in): the directory exists,
   * is ours or root's, and group and others cannot write it (file-safety.ts). Temp files of a killed writer are swept
   * once, on the first use.
   */
  #prepare(): Promise<void> {
    return serialized(this.path, () => this.#prepareNow());
  }

  async #prepareNow(): Promise<void> {
    try {
      const created = await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (created !== undefined) await fsp.chmod(this.dir, 0o700); // the umask may have taken bits we want exact
    } catch (e) {
      throw storageErrorFrom(e, `cannot create the secrets directory ${this.dir}`);
    }
    checkFolder(this.dir, 'secrets directory');
    if (this.#swept) return;
    try {
      for (const name of await fsp.readdir(this.dir)) {
        if (TEMP_NAME.test(name)) await fsp.rm(join(this.dir, name), { force: true });
      }
    } catch (e) {
      throw storageErrorFrom(e, `cannot sweep the secrets directory ${this.dir}`);
    }
    this.#swept = true;
  }

  async #read(): Promise<Map<string, string>> {
    let text: string;
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = await handle.stat();
      if (!st.isFile()) throw storeError(`${this.path} is not a regular file`);
      if (st.size > MAX_FILE_BYTES) throw storeError(`${this.path} is larger than any secrets file we write`, { code: 'ISCSI_STORAGE_FAILED' });
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) {
        throw storeError(`${this.path} belongs to uid ${st.uid}, not to this daemon; refusing to use it`, {
          hint: `chown ${uid} ${this.path}, then change the CHAP secrets it holds`,
        });
      }
      if ((st.mode & 0o077) !== 0) {
        throw storeError(`${this.path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); refusing to use it`, {
          hint: `chmod 600 ${this.path}, then change the CHAP secrets it holds: they may have been read`,
        });
      }
      text = await handle.readFile('utf8');
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return new Map();
      if (e instanceof StorageError) throw e;
      // O_NOFOLLOW on a symlink: ELOOP on Linux and macOS (EMLINK on some BSDs).
      if (errnoOf(e) === 'ELOOP' || errnoOf(e) === 'EMLINK') throw storeError(`${this.path} is a symlink; refusing to follow it`, { hint: `remove the link; iscsid writes ${this.path} itself` });
      throw storageErrorFrom(e, `cannot read ${this.path}`);
    } finally {
      await handle?.close().catch(() => undefined);
    }
    return this.#parse(text);
  }

  #parse(text: string): Map<string, string> {
    // No cause on purpose: V8's JSON errors quote the text around the fault, which may be a secret.
    const corrupt = (): IscsiError =>
      storeError(`${this.path} is not a valid secrets file`, { code: 'ISCSI_STORAGE_FAILED', hint: `move it aside and set the CHAP secrets again` });
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw corrupt();
    }
    if (typeof doc !== 'object' || doc === null) throw corrupt();
    const { version, secrets } = doc as Record<string, unknown>;
    if (version !== 1 || typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) throw corrupt();
    const all = new Map<string, string>();
    for (const [account, secret] of Object.entries(secrets)) {
      if (typeof secret !== 'string') throw corrupt();
      all.set(account, secret);
    }
    return all;
  }

  async #write(all: Map<string, string>): Promise<void> {
    const temp = join(this.dir, `${SECRETS_FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const body = `${JSON.stringify({ version: 1, secrets: Object.fromEntries(all) }, null, 2)}\n`;
    let handle: fsp.FileHandle | undefined;
    try {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      handle = await fsp.open(temp, flags, 0o600);
      await handle.chmod(0o600); // exact, whatever the umask
      await handle.writeFile(body, 'utf8');
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fsp.rename(temp, this.path);
    } catch (e) {
      await handle?.close().catch(() => undefined);
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw storageErrorFrom(e, `cannot write ${this.path}`);
    }
    // The rename is durable only once the directory is synced; a platform that cannot fsync a directory still has it.
    const dir = await fsp.open(this.dir, constants.O_RDONLY).catch(() => undefined);
    await dir?.sync().catch(() => undefined);
    await dir?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Keychain backend

/** The part of `@napi-rs/keyring` we use; a parameter so the module is only loaded where it is used (macOS). */
export interface KeyringBinding {
  AsyncEntry: new (
    service: string,
    account: string,
  ) => {
    setPassword(password: string): Promise<void>;
    getPassword(): Promise<string | null>;
    deletePassword(): Promise<boolean>;
  };
  findCredentialsAsync(service: string): Promise<Array<{ account: string; password: string }>>;
}

/**
 * A thin adapter over @napi-rs/keyring: one generic-password item per ref, service `service`, account `accountOf(ref)`.
 * Uses the async entries so a slow or prompting Keychain never blocks the daemon's event loop. Only constructed on
 * macOS by `openSecretStore`; on Linux its tests run against a fake binding, so the real Keychain path is untested here.
 */
export class KeychainSecretStore implements SecretStore {
  readonly backend = 'keychain' as const;

  constructor(
    private readonly keyring: KeyringBinding,
    readonly service: string = DEFAULT_SECRET_SERVICE,
  ) {}

  async get(ref: SecretRef): Promise<string | undefined> {
    checkRef(ref);
    return (await this.#call('read', () => this.#entry(ref).getPassword())) ?? undefined;
  }
  async has(ref: SecretRef): Promise<boolean> {
    return (await this.get(ref)) !== undefined;
  }
  async set(ref: SecretRef, secret: string): Promise<void> {
    checkRef(ref);
    checkSecret(secret);
    await this.#call('write', () => this.#entry(ref).setPassword(secret));
  }
  async delete(ref: SecretRef): Promise<boolean> {
    checkRef(ref);
    return this.#call('delete', () => this.#entry(ref).deletePassword());
  }
  async deleteAll(targetName: string, portal?: string): Promise<number> {
    checkTarget(targetName, portal);
    const found = await this.#call('list', () => this.keyring.findCredentialsAsync(this.service));
    let count = 0;
    for (const { account } of found) {
      const ref = refOf(account);
      if (ref !== undefined && matches(ref, targetName, portal) && (await this.delete(ref))) count++;
    }
    return count;
  }

  toString(): string {
    return `KeychainSecretStore(${this.service})`;
  }
  toJSON(): Record<string, unknown> {
    return { backend: this.backend, service: this.service };
  }
  [inspect.custom](): string {
    return this.toString();
  }

  #entry(ref: SecretRef): InstanceType<KeyringBinding['AsyncEntry']> {
    return new this.keyring.AsyncEntry(this.service, accountOf(ref));
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw storeError(`cannot ${what} CHAP secrets in the Keychain (service ${this.service})`, {
        code: 'ISCSI_STORAGE_FAILED',
        cause: e,
        hint: 'unlock the Keychain, or run iscsid with the file store',
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface OpenSecretStoreOptions {
  stateDir: string;
  /** 'keychain' is only honoured on macOS and only if the probe works; Linux always gets the file (no D-Bus here). */
  prefer?: 'keychain' | 'file';
  service?: string;
}

/** The Keychain on macOS when a set/get/delete probe works, else the file store in `stateDir`. */
export async function openSecretStore(options: OpenSecretStoreOptions): Promise<SecretStore> {
  const { stateDir, prefer = 'keychain', service = DEFAULT_SECRET_SERVICE } = options;
  if (typeof service !== 'string' || service === '') throw badArgument('the Keychain service name must be a non-empty string');
  const file = new FileSecretStore(stateDir);
  if (prefer === 'file' || process.platform !== 'darwin') return file;
  try {
    // A single executable ships the binding's .node file beside the binary (installer/sea).
    const keyring: KeyringBinding = requireBesideExecutable<KeyringBinding>('keyring.node') ?? (await import('@napi-rs/keyring'));
    if (await probe(keyring, service)) return new KeychainSecretStore(keyring, service);
  } catch {
    // No binding for this Mac, or the Keychain refused: the file store is the documented fallback.
  }
  return file;
}

/** Writes, reads back and deletes a random value under an account no ref can encode to (it has no '|'). */
async function probe(keyring: KeyringBinding, service: string): Promise<boolean> {
  const entry = new keyring.AsyncEntry(service, 'iscsid-probe');
  const value = randomBytes(16).toString('hex');
  await entry.setPassword(value);
  try {
    return (await entry.getPassword()) === value;
  } finally {
    await entry.deletePassword().catch(() => false);
  }
}
