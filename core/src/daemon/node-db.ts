/**
 * The daemon's node database, like open-iscsi's: one record per discovered node (target × portal) with its settings,
 * and the initiator's own name. Persisted with `conf` (atomic writes, a JSON schema, versioned migrations) in one
 * file under the daemon's state directory. It never holds a secret: no API takes one, and the schema refuses
 * any setting name but the known ones.
 */

import { closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Conf, { type Schema } from 'conf';
import { ArgumentError, IscsiError, StorageError, storageErrorFrom } from '../errors.js';
import { generateInitiatorName } from '../initiator-name.js';
import { isValidIscsiName } from '../iscsi-name.js';
import { NODE_DB_FILE_NAME } from '../platform-paths.js';
import { formatPortal, parsePortal } from '../portal.js';
import {
  NODE_KEYS,
  checkConsistency,
  isSecretKey,
  quote,
  sessionSettingsOf,
  validateSetting,
  withDefaults,
  type NodeSessionSettings,
  type NodeSettings,
} from './node-settings.js';
import type { NodeRecord } from '../rpc/types.js';
import { checkFile, checkFolder } from './file-safety.js';

export type { NodeRecord };
export { NODE_DB_FILE_NAME };

export interface DiscoveredTarget {
  targetName: string;
  portals: Array<{ host: string; port: number; portalGroupTag?: number }>;
}

/** The file format version; a migration for each version that changes it (conf runs them in order). */
export const NODE_DB_SCHEMA_VERSION = '1.0.0';

/** RFC 7143 §13.8 leaves the tag out of redirections; open-iscsi shows such portals with tag 1. */
const DEFAULT_PORTAL_GROUP_TAG = 1;

/** What the file holds per node: only the settings someone set; the rest take their defaults when read. */
interface StoredNode {
  targetName: string;
  portal: string;
  portalGroupTag: number;
  settings: NodeSettings;
  discoveredAt: string;
  discoveredVia?: string;
}

interface StoredInitiator {
  name: string;
  alias?: string;
}

interface Store {
  initiator?: StoredInitiator;
  nodes: StoredNode[];
}

const SCHEMA = {
  initiator: {
    type: 'object',
    properties: { name: { type: 'string', minLength: 1, maxLength: 223 }, alias: { type: 'string', maxLength: 255 } },
    required: ['name'],
    additionalProperties: false,
  },
  nodes: {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      properties: {
        targetName: { type: 'string', minLength: 1, maxLength: 223 },
        portal: { type: 'string', minLength: 1 },
        portalGroupTag: { type: 'integer', minimum: 0, maximum: 65535 },
        // Only known names: a secret (or anything else) cannot be written even by a bug in this file.
        settings: { type: 'object', propertyNames: { enum: [...NODE_KEYS.keys()] }, additionalProperties: { type: 'string' } },
        discoveredAt: { type: 'string' },
        discoveredVia: { type: 'string' },
      },
      required: ['targetName', 'portal', 'portalGroupTag', 'settings', 'discoveredAt'],
      additionalProperties: false,
    },
  },
} as unknown as Schema<Store>;

/** What the migration could not keep, and why; written to `nodes.json.rejected` and logged, never just dropped. */
interface Rejected {
  readonly reason: string;
  /** The record (or setting) as it was, secret values withheld. */
  readonly record: unknown;
}

/** Called for each thing kept aside (a record, a setting, an initiator name). */
export type NodeDbLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Where the records a migration could not keep go, next to the database (JSON lines, 0600, appended). */
export const NODE_DB_REJECTED_SUFFIX = '.rejected';

/**
 * Migrations by the version they bring the file to. 1.0.0: a file with no recorded version (written by hand or by a
 * build before versioning) is normalised: canonical names and portals, missing fields filled in. What cannot be kept —
 * an unreadable record, an unknown, invalid or secret setting, a duplicate — is kept aside (`keepAside`) before the
 * file is rewritten without it, so nothing is lost silently.
 */
function migrations(keepAside: (rejected: Rejected[]) => void): Record<string, (store: Conf<Store>) => void> {
  return {
    '1.0.0': (store) => {
      const raw = store.store as unknown as Record<string, unknown>;
      const rejected: Rejected[] = [];
      for (const key of Object.keys(raw)) {
        if (key === 'nodes' || key === 'initiator' || key === '__internal__') continue;
        rejected.push({ reason: `unknown top-level key ${quote(key)}`, record: { [key]: raw[key] } });
      }
      const nodes: StoredNode[] = [];
      const items = raw['nodes'] === undefined ? [] : Array.isArray(raw['nodes']) ? (raw['nodes'] as unknown[]) : (rejected.push({ reason: '"nodes" is not an array', record: raw['nodes'] }), []);
      for (const item of items) {
        const node = salvageNode(item, rejected);
        if (node === undefined) continue;
        const at = nodes.findIndex((n) => n.targetName === node.targetName && n.portal === node.portal);
        if (at >= 0) {
          rejected.push({ reason: `a later record for ${node.targetName} at ${node.portal} replaces this one`, record: withheld(nodes[at]) });
          nodes[at] = node;
        } else nodes.push(node);
      }
      const initiator = raw['initiator'] === undefined ? undefined : salvageInitiator(raw['initiator']);
      if (raw['initiator'] !== undefined && initiator === undefined) rejected.push({ reason: 'not a valid initiator name and alias', record: raw['initiator'] });
      // Kept aside first: a crash after this leaves the old file and the copy, never neither.
      if (rejected.length > 0) keepAside(rejected);
      for (const key of Object.keys(raw)) if (key !== 'nodes' && key !== 'initiator' && key !== '__internal__') store.delete(key as keyof Store);
      store.set('nodes', nodes);
      if (initiator === undefined) store.delete('initiator');
      else store.set('initiator', initiator);
    },
  };
}

export class NodeDatabase {
  readonly path: string;
  readonly #conf: Conf<Store>;

  readonly #stateDir: string;
  readonly #log: NodeDbLog | undefined;

  /**
   * Opens (creating 0700) the state folder and its nodes.json. Refused, at every read and write too: a state folder
   * that is not ours or root's or that group or others may write, and a nodes.json that is a symlink, another
   * user's, or writable by others (ISCSI_STORAGE_UNSAFE, file-safety.ts). Leftover temp files of a killed write are
   * removed (the daemon's instance lock makes it the only writer).
   */
  constructor(options: { stateDir: string; log?: NodeDbLog }) {
    const stateDir = options?.stateDir;
    if (typeof stateDir !== 'string' || stateDir === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the node database needs a state directory');
    this.#stateDir = resolve(stateDir);
    this.#log = options.log;
    const expected = join(this.#stateDir, `${NODE_DB_FILE_NAME}.json`);
    this.#conf = wrap(expected, () => {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      this.#check(expected);
      removeTempFiles(this.#stateDir, `${NODE_DB_FILE_NAME}.json.tmp-`);
      return new Conf<Store>({
        cwd: stateDir,
        configName: NODE_DB_FILE_NAME,
        schema: SCHEMA,
        rootSchema: { additionalProperties: false },
        projectVersion: NODE_DB_SCHEMA_VERSION,
        migrations: migrations((rejected) => this.#keepAside(expected, rejected)),
        // Target names contain dots; keys are whole names, never paths.
        accessPropertiesByDotNotation: false,
        configFileMode: 0o600,
        clearInvalidConfig: false,
      });
    });
    this.path = this.#conf.path;
  }

  list(filter: { targetName?: string; portal?: string } = {}): NodeRecord[] {
    const targetName = filter.targetName === undefined ? undefined : canonicalName(filter.targetName, 'target name');
    const portal = filter.portal === undefined ? undefined : canonicalPortal(filter.portal);
    return this.#nodes()
      .filter((n) => (targetName === undefined || n.targetName === targetName) && (portal === undefined || n.portal === portal))
      .map(toRecord);
  }

  /** The node, or undefined; `portal` may be left out when the target has one portal (ArgumentError if several). */
  get(targetName: string, portal?: string): NodeRecord | undefined {
    const found = this.#find(this.#nodes(), targetName, portal);
    return found === undefined ? undefined : toRecord(found.node);
  }

  /**
   * Records what a SendTargets discovery at `discoveryPortal` reported: new nodes get default settings, known ones
   * keep theirs (their tag, discoveredAt and discoveredVia are refreshed). Nothing is written unless all of the
   * input is valid. Returns the records of the reported nodes.
   */
  upsertDiscovered(discoveryPortal: string, targets: ReadonlyArray<DiscoveredTarget>): NodeRecord[] {
    const via = canonicalPortal(discoveryPortal);
    if (!Array.isArray(targets)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'discovered targets must be an array');
    const now = new Date().toISOString();
    const reported: Array<{ targetName: string; portal: string; portalGroupTag: number }> = [];
    for (const target of targets) {
      const targetName = canonicalName(target?.targetName, 'target name');
      if (!Array.isArray(target.portals)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `portals of ${targetName} must be an array`);
      for (const p of target.portals) reported.push({ targetName, portal: discoveredPortal(p), portalGroupTag: portalGroupTag(p?.portalGroupTag) });
    }
    const nodes = this.#nodes();
    const touched: StoredNode[] = [];
    for (const r of reported) {
      let node = nodes.find((n) => n.targetName === r.targetName && n.portal === r.portal);
      if (node === undefined) {
        node = { targetName: r.targetName, portal: r.portal, portalGroupTag: r.portalGroupTag, settings: {}, discoveredAt: now };
        nodes.push(node);
      }
      node.portalGroupTag = r.portalGroupTag;
      node.discoveredAt = now;
      node.discoveredVia = via;
      if (!touched.includes(node)) touched.push(node);
    }
    if (reported.length > 0) this.#write(nodes);
    return touched.map(toRecord);
  }

  /** Sets one setting to its canonical value (open-iscsi's `-o update -n key -v value`). */
  update(targetName: string, portal: string | undefined, key: string, value: string): NodeRecord {
    const canonical = validateSetting(key, value);
    const nodes = this.#nodes();
    const found = this.#find(nodes, targetName, portal);
    if (found === undefined) {
      throw new ArgumentError('ISCSI_NODE_NOT_FOUND', `no node ${quote(targetName)}${portal === undefined ? '' : ` at ${quote(portal)}`}`, {
        hint: 'discover the target first (iscsiadm discovery -p <portal>)',
      });
    }
    const settings = { ...found.node.settings, [key]: canonical };
    checkConsistency(settings);
    found.node.settings = settings;
    this.#write(nodes);
    return toRecord(found.node);
  }

  /** Deletes the node at `portal`, or every portal of the target when `portal` is left out. Returns how many. */
  delete(targetName: string, portal?: string): number {
    const name = canonicalName(targetName, 'target name');
    const at = portal === undefined ? undefined : canonicalPortal(portal);
    const nodes = this.#nodes();
    const kept = nodes.filter((n) => !(n.targetName === name && (at === undefined || n.portal === at)));
    if (kept.length !== nodes.length) this.#write(kept);
    return nodes.length - kept.length;
  }

  /** What the node's settings mean for IscsiSession.open (timeouts in ms, the operational proposal, CHAP). */
  sessionSettings(record: NodeRecord): NodeSessionSettings {
    if (record === null || typeof record !== 'object' || record.settings === null || typeof record.settings !== 'object') {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'sessionSettings needs a node record');
    }
    return sessionSettingsOf(record.settings);
  }

  /** This initiator's name: generated once (generateInitiatorName) and kept. */
  initiator(): { name: string; alias?: string } {
    const stored = this.#io(() => this.#conf.get('initiator'));
    if (stored !== undefined) return stored.alias === undefined ? { name: stored.name } : { name: stored.name, alias: stored.alias };
    const name = generateInitiatorName();
    this.#io(() => this.#conf.set('initiator', { name }));
    return { name };
  }

  /** Replaces the initiator name (RFC 7143 §4.2.7; lower case per RFC 3722) and alias (empty: none). */
  setInitiator(name: string, alias?: string): void {
    const canonical = canonicalName(name, 'initiator name');
    let initiator: StoredInitiator = { name: canonical };
    if (alias !== undefined && alias !== '') initiator = { name: canonical, alias: validateAlias(alias) };
    this.#io(() => this.#conf.set('initiator', initiator));
  }

  #nodes(): StoredNode[] {
    // A fresh copy each time: callers change it and write it back whole.
    return structuredClone(this.#io(() => this.#conf.get('nodes')) ?? []);
  }

  #write(nodes: StoredNode[]): void {
    this.#io(() => this.#conf.set('nodes', nodes));
  }

  #find(nodes: StoredNode[], targetName: string, portal: string | undefined): { node: StoredNode } | undefined {
    const name = canonicalName(targetName, 'target name');
    const at = portal === undefined ? undefined : canonicalPortal(portal);
    const matches = nodes.filter((n) => n.targetName === name && (at === undefined || n.portal === at));
    if (matches.length > 1) {
      throw new ArgumentError(
        'ISCSI_BAD_ARGUMENT',
        `${name} has ${matches.length} portals (${matches.map((n) => n.portal).join(', ')}): say which one`,
        { hint: 'add the portal, e.g. -p host:3260' },
      );
    }
    const node = matches[0];
    return node === undefined ? undefined : { node };
  }

  #io<T>(operation: () => T): T {
    return wrap(this.path, () => {
      this.#check(this.path);
      return operation();
    });
  }

  /** file-safety.ts: the folder and the file, before every use (a mode or a link changed since counts). */
  #check(path: string): void {
    checkFolder(this.#stateDir, 'state folder');
    checkFile(path, 'node database');
  }

  /** Appends what a migration could not keep to nodes.json.rejected (JSON lines, 0600, no symlink followed), and logs it. */
  #keepAside(path: string, rejected: Rejected[]): void {
    const file = `${path}${NODE_DB_REJECTED_SUFFIX}`;
    checkFile(file, 'rejected-records file');
    const at = new Date().toISOString();
    const lines = rejected.map((r) => `${JSON.stringify({ at, reason: r.reason, record: r.record })}\n`).join('');
    let fd: number | undefined;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      writeSync(fd, lines);
      fsyncSync(fd);
    } catch (e) {
      throw storageErrorFrom(e, `cannot keep rejected node records aside in ${file}`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    for (const r of rejected) this.#log?.('warn', 'node database: kept a record aside', { file, reason: r.reason, record: recordName(r.record) });
  }
}

/** A short, secret-free name for a kept-aside record in a log line: its target and portal when it has them. */
function recordName(record: unknown): string {
  if (record === null || typeof record !== 'object') return JSON.stringify(record)?.slice(0, 80) ?? String(record);
  const r = record as Record<string, unknown>;
  const name = typeof r['targetName'] === 'string' ? r['targetName'].slice(0, 223) : typeof r['name'] === 'string' ? r['name'].slice(0, 223) : undefined;
  const portal = typeof r['portal'] === 'string' ? r['portal'].slice(0, 300) : undefined;
  return name === undefined ? `${Object.keys(r).slice(0, 5).join(',')}` : `${name}${portal === undefined ? '' : ` at ${portal}`}`;
}

/** The record with the values of its secret settings replaced: a hand-written password is not copied anywhere. */
function withheld(record: unknown): unknown {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return record;
  const r = { ...(record as Record<string, unknown>) };
  const settings = r['settings'];
  if (settings !== null && typeof settings === 'object' && !Array.isArray(settings)) {
    r['settings'] = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, isSecretKey(k) ? '(withheld: a secret)' : v]));
  }
  return r;
}

/** Removes `prefix*` files of a write that was killed (conf's atomic writes: `nodes.json.tmp-<time><random>`). */
function removeTempFiles(dir: string, prefix: string): void {
  for (const name of readdirSync(dir)) if (name.startsWith(prefix)) rmSync(join(dir, name), { force: true });
}

/**
 * conf reports a damaged file or a failed write with plain errors: give them our type, code and a fix. A system error
 * (errno) is a storage failure — ISCSI_STORAGE_FULL for a full disk; anything else conf throws is a damaged file.
 */
function wrap<T>(path: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof IscsiError) throw error;
    if (typeof (error as { code?: unknown })?.code === 'string') throw storageErrorFrom(error, `cannot use the node database ${path}`, 'check the file system and the folder\'s permissions');
    const why = error instanceof Error ? error.message : String(error);
    throw new StorageError('ISCSI_STORAGE_FAILED', `node database ${path} is damaged: ${why}`, {
      cause: error,
      hint: 'move the damaged file aside and discover again',
    });
  }
}

function toRecord(node: StoredNode): NodeRecord {
  const record: NodeRecord = {
    targetName: node.targetName,
    portal: node.portal,
    portalGroupTag: node.portalGroupTag,
    settings: withDefaults(node.settings),
    discoveredAt: node.discoveredAt,
  };
  if (node.discoveredVia !== undefined) record.discoveredVia = node.discoveredVia;
  return record;
}

/** RFC 3722 stringprep maps iSCSI names to lower case, so that is how we keep and compare them (hex of eui/naa upper). */
function canonicalName(name: unknown, what: string): string {
  if (typeof name !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `the ${what} must be a string`);
  const trimmed = name.trim();
  const lower = trimmed.toLowerCase();
  const canonical = lower.startsWith('eui.') || lower.startsWith('naa.') ? lower.slice(0, 4) + trimmed.slice(4).toUpperCase() : lower;
  if (!isValidIscsiName(canonical)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `bad ${what} ${quote(name)}`, {
      hint: 'an iSCSI name is iqn.yyyy-mm.reversed.domain[:anything], eui.<16 hex> or naa.<16 or 32 hex> (RFC 7143 §4.2.7)',
    });
  }
  return canonical;
}

/** "host[:port][,tag]" → "host:port" (host lower case, IPv6 in brackets); the tag is not part of a node's identity. */
export function canonicalPortal(text: unknown): string {
  if (typeof text !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'a portal must be a string like host:3260');
  const portal = parsePortal(text);
  return formatPortal({ host: portal.host.toLowerCase(), port: portal.port });
}

function discoveredPortal(p: { host: string; port: number } | undefined): string {
  const host = typeof p?.host === 'string' ? p.host.replace(/^\[(.*)\]$/, '$1') : '';
  const port = p?.port;
  if (host === '' || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `bad discovered portal ${quote(JSON.stringify(p) ?? String(p))}: need a host and a port 1..65535`);
  }
  return canonicalPortal(formatPortal({ host, port: port as number }));
}

function portalGroupTag(tag: unknown): number {
  if (tag === undefined) return DEFAULT_PORTAL_GROUP_TAG;
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > 65535) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `bad portal group tag ${String(tag)}: expected 0..65535 (RFC 7143 §13.9)`);
  }
  return tag;
}

function validateAlias(alias: unknown): string {
  // §13.6 InitiatorAlias is a UTF-8 text-value like a CHAP name: the same checks.
  if (typeof alias !== 'string') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the initiator alias must be a string');
  try {
    return validateSetting('node.session.auth.username', alias);
  } catch (error) {
    if (error instanceof ArgumentError) throw new ArgumentError('ISCSI_BAD_ARGUMENT', error.message.replace('node.session.auth.username', 'the initiator alias'));
    throw error;
  }
}

function salvageNode(item: unknown, rejected: Rejected[]): StoredNode | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    rejected.push({ reason: 'not a node record (an object)', record: item });
    return undefined;
  }
  const r = item as Record<string, unknown>;
  let node: StoredNode;
  try {
    node = {
      targetName: canonicalName(r['targetName'], 'target name'),
      portal: canonicalPortal(r['portal']),
      portalGroupTag: safe(() => portalGroupTag(r['portalGroupTag'])) ?? DEFAULT_PORTAL_GROUP_TAG,
      settings: {},
      discoveredAt: typeof r['discoveredAt'] === 'string' && !Number.isNaN(Date.parse(r['discoveredAt'])) ? r['discoveredAt'] : new Date().toISOString(),
    };
  } catch (e) {
    rejected.push({ reason: e instanceof Error ? e.message : 'unreadable', record: withheld(item) });
    return undefined;
  }
  const via = safe(() => canonicalPortal(r['discoveredVia']));
  if (via !== undefined) node.discoveredVia = via;
  const settings = r['settings'];
  if (settings !== null && typeof settings === 'object') {
    const where = `${node.targetName} at ${node.portal}`;
    for (const [key, value] of Object.entries(settings)) {
      // Unknown, invalid and secret keys all fail validateSetting: kept aside (a secret's value withheld), not kept.
      const canonical = typeof value === 'string' ? safe(() => validateSetting(key, value)) : undefined;
      if (canonical !== undefined) node.settings[key] = canonical;
      else rejected.push({ reason: `setting ${quote(key)} of ${where} is ${isSecretKey(key) ? 'a secret (use secrets.set)' : 'unknown or invalid'}`, record: { targetName: node.targetName, portal: node.portal, key, value: isSecretKey(key) ? '(withheld: a secret)' : value } });
    }
    try {
      checkConsistency(node.settings);
    } catch (e) {
      const key = 'node.session.iscsi.FirstBurstLength';
      rejected.push({ reason: e instanceof Error ? e.message : 'inconsistent', record: { targetName: node.targetName, portal: node.portal, key, value: node.settings[key] } });
      delete node.settings[key];
    }
  }
  return node;
}

function salvageInitiator(value: unknown): StoredInitiator | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  const name = safe(() => canonicalName(r['name'], 'initiator name'));
  if (name === undefined) return undefined;
  const alias = typeof r['alias'] === 'string' && r['alias'] !== '' ? safe(() => validateAlias(r['alias'])) : undefined;
  return alias === undefined ? { name } : { name, alias };
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
