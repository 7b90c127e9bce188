/**
 * The daemon's node database, like open-iscsi's: one record per discovered node (target × portal) with its settings,
 * and the initiator's own name. Persisted with `conf` (atomic writes, a JSON schema, versioned migrations) in one
 * file under the daemon's state directory. It never holds a secret: no API takes one, and the schema refuses
 * any setting name but the known ones.
 */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Conf, { type Schema } from 'conf';
import { ArgumentError, IscsiError } from '../errors.js';
import { generateInitiatorName } from '../initiator-name.js';
import { isValidIscsiName } from '../iscsi-name.js';
import { NODE_DB_FILE_NAME } from '../platform-paths.js';
import { formatPortal, parsePortal } from '../portal.js';
import {
  NODE_KEYS,
  checkConsistency,
  quote,
  sessionSettingsOf,
  validateSetting,
  withDefaults,
  type NodeSessionSettings,
  type NodeSettings,
} from './node-settings.js';
import type { NodeRecord } from '../rpc/types.js';

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

/**
 * Migrations by the version they bring the file to. 1.0.0: a file with no recorded version (written by hand or by a
 * build before versioning) is normalised: canonical names and portals, missing fields filled in, and any setting
 * that is unknown, invalid or a secret dropped; records that cannot be read are dropped.
 */
const MIGRATIONS: Record<string, (store: Conf<Store>) => void> = {
  '1.0.0': (store) => {
    const raw = store.store as unknown as Record<string, unknown>;
    for (const key of Object.keys(raw)) if (key !== 'nodes' && key !== 'initiator') store.delete(key as keyof Store);
    const nodes: StoredNode[] = [];
    for (const item of Array.isArray(raw['nodes']) ? (raw['nodes'] as unknown[]) : []) {
      const node = salvageNode(item);
      if (node === undefined) continue;
      const at = nodes.findIndex((n) => n.targetName === node.targetName && n.portal === node.portal);
      if (at >= 0) nodes[at] = node;
      else nodes.push(node);
    }
    store.set('nodes', nodes);
    const initiator = salvageInitiator(raw['initiator']);
    if (initiator === undefined) store.delete('initiator');
    else store.set('initiator', initiator);
  },
};

export class NodeDatabase {
  readonly path: string;
  readonly #conf: Conf<Store>;

  constructor(options: { stateDir: string }) {
    const stateDir = options?.stateDir;
    if (typeof stateDir !== 'string' || stateDir === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'the node database needs a state directory');
    const expected = join(stateDir, `${NODE_DB_FILE_NAME}.json`);
    this.#conf = wrap(expected, () => {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      return new Conf<Store>({
        cwd: stateDir,
        configName: NODE_DB_FILE_NAME,
        schema: SCHEMA,
        rootSchema: { additionalProperties: false },
        projectVersion: NODE_DB_SCHEMA_VERSION,
        migrations: MIGRATIONS,
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
    return wrap(this.path, operation);
  }
}

/** conf reports a damaged file or a failed write with plain errors: give them our type, code and a fix. */
function wrap<T>(path: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof IscsiError) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `node database ${path}: ${why}`, {
      cause: error,
      hint: 'check the file and its directory permissions; move a damaged file aside and discover again',
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
function canonicalPortal(text: unknown): string {
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

function salvageNode(item: unknown): StoredNode | undefined {
  if (item === null || typeof item !== 'object') return undefined;
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
  } catch {
    return undefined;
  }
  const via = safe(() => canonicalPortal(r['discoveredVia']));
  if (via !== undefined) node.discoveredVia = via;
  const settings = r['settings'];
  if (settings !== null && typeof settings === 'object') {
    for (const [key, value] of Object.entries(settings)) {
      // Unknown, invalid and secret keys all fail validateSetting and are dropped.
      const canonical = typeof value === 'string' ? safe(() => validateSetting(key, value)) : undefined;
      if (canonical !== undefined) node.settings[key] = canonical;
    }
    try {
      checkConsistency(node.settings);
    } catch {
      delete node.settings['node.session.iscsi.FirstBurstLength'];
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
