import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError, StorageError } from '../../src/errors.js';
import { generateInitiatorName, storedInitiatorName } from '../../src/initiator-name.js';
import { NAMING_AUTHORITY, isValidIscsiName } from '../../src/iscsi-name.js';
import { DEFAULT_PROPOSAL, Negotiator } from '../../src/text/negotiation.js';
import { NODE_DB_SCHEMA_VERSION, NodeDatabase } from '../../src/daemon/node-db.js';
import { NODE_KEYS } from '../../src/daemon/node-settings.js';

const TARGET = 'iqn.2004-04.com.example:disk1';
const OTHER = 'iqn.2004-04.com.example:disk2';

let dir: string;
let stateDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'node-db-'));
  stateDir = join(dir, 'state');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function discovered(db: NodeDatabase): void {
  db.upsertDiscovered('10.0.0.5', [
    { targetName: TARGET, portals: [{ host: '10.0.0.5', port: 3260, portalGroupTag: 1 }] },
    { targetName: OTHER, portals: [{ host: '10.0.0.5', port: 3260, portalGroupTag: 1 }, { host: 'fe80::1', port: 3261, portalGroupTag: 2 }] },
  ]);
}

function fileText(db: NodeDatabase): string {
  return readFileSync(db.path, 'utf8');
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('storage', () => {
  it('creates the state directory 0700 and a 0600 nodes.json under it', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(db.path).toBe(join(stateDir, 'nodes.json'));
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(db.path).mode & 0o777).toBe(0o600);
  });

  it('records the schema version in the file (conf migrations bookkeeping)', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const json = JSON.parse(fileText(db));
    expect(json.__internal__.migrations.version).toBe(NODE_DB_SCHEMA_VERSION);
  });

  it('migration 1.0.0 upgrades an unversioned (old-format) file: names canonical, fields filled; what cannot be kept goes to nodes.json.rejected and the log (issue 10: never dropped silently)', () => {
    mkdirSync(stateDir, { recursive: true });
    const old = {
      legacy: true,
      initiator: { name: 'IQN.2001-04.com.example:Mac', alias: 'my mac' },
      nodes: [
        {
          targetName: 'IQN.2004-04.COM.Example:Disk1',
          portal: '10.0.0.5',
          settings: {
            'node.startup': 'Automatic',
            'node.session.auth.password': 'old-secret-1',
            'node.session.auth.password_in': 'old-secret-2',
            'node.session.made.up': 'x',
            'node.session.queue_depth': 'lots',
          },
        },
        { targetName: 'not an iscsi name', portal: '10.0.0.6' },
        'garbage',
      ],
    };
    writeFileSync(join(stateDir, 'nodes.json'), JSON.stringify(old));
    const logged: Array<{ message: string; fields?: Record<string, unknown> }> = [];
    const db = new NodeDatabase({ stateDir, log: (_level, message, fields) => logged.push({ message, ...(fields ? { fields } : {}) }) });
    const nodes = db.list();
    expect(nodes).toHaveLength(1);
    const rejectedPath = join(stateDir, 'nodes.json.rejected');
    const rejected = readFileSync(rejectedPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { reason: string; record: unknown });
    expect(statSync(rejectedPath).mode & 0o777).toBe(0o600);
    // The bad record, the junk, the top-level key, the two secrets, the unknown key and the bad value: each kept aside.
    expect(rejected.map((r) => r.record)).toEqual(
      expect.arrayContaining([
        { targetName: 'not an iscsi name', portal: '10.0.0.6' },
        'garbage',
        { legacy: true },
        expect.objectContaining({ key: 'node.session.made.up', value: 'x' }),
        expect.objectContaining({ key: 'node.session.queue_depth', value: 'lots' }),
        expect.objectContaining({ key: 'node.session.auth.password', value: '(withheld: a secret)' }),
        expect.objectContaining({ key: 'node.session.auth.password_in', value: '(withheld: a secret)' }),
      ]),
    );
    expect(rejected).toHaveLength(7);
    expect(rejected.find((r) => r.record === 'garbage')?.reason).toMatch(/not a node record/);
    expect(readFileSync(rejectedPath, 'utf8')).not.toContain('old-secret');
    expect(logged).toHaveLength(7);
    expect(logged.map((l) => l.fields?.['record'])).toContain('not an iscsi name at 10.0.0.6');
    expect(JSON.stringify(logged)).not.toContain('old-secret');
    expect(nodes[0]).toMatchObject({ targetName: TARGET, portal: '10.0.0.5:3260', portalGroupTag: 1 });
    expect(nodes[0]?.settings['node.startup']).toBe('automatic');
    expect(nodes[0]?.settings['node.session.queue_depth']).toBe('32');
    expect(db.initiator()).toEqual({ name: 'iqn.2001-04.com.example:mac', alias: 'my mac' });
    const text = fileText(db);
    expect(text).not.toContain('old-secret');
    expect(text).not.toContain('legacy');
    expect(JSON.parse(text).__internal__.migrations.version).toBe(NODE_DB_SCHEMA_VERSION);
    // Opened again, the migration does not run twice and the data is the same.
    expect(new NodeDatabase({ stateDir }).list()).toEqual(nodes);
  });

  it('a damaged file is a StorageError (ISCSI_STORAGE_FAILED) naming the file, not a SyntaxError (issue 10: errors say what happened)', () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'nodes.json'), '{ not json');
    const error = thrown(() => new NodeDatabase({ stateDir }));
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'ISCSI_STORAGE_FAILED' });
    expect((error as StorageError).message).toContain('nodes.json');
  });

  it('a file that breaks the schema (a secret key written by hand) is refused, not loaded', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const json = JSON.parse(fileText(db));
    json.nodes[0].settings['node.session.auth.password'] = 'hand-written';
    writeFileSync(db.path, JSON.stringify(json));
    // Issue 10: refused with the record named (its index and the key), never dropped.
    expect(() => db.list()).toThrow(/nodes\/0\/settings/);
    expect(thrown(() => new NodeDatabase({ stateDir }))).toMatchObject({ code: 'ISCSI_STORAGE_FAILED' });
  });
});

describe('file safety, checked at every use (issue 10: parity with the secret store)', () => {
  it('a nodes.json symlink is refused, and its target is never written', () => {
    mkdirSync(stateDir, { recursive: true });
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'root only\n');
    symlinkSync(victim, join(stateDir, 'nodes.json'));
    expect(thrown(() => new NodeDatabase({ stateDir }))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/symlink/) });
    // Planted after the database was opened: the next write is refused too.
    rmSync(join(stateDir, 'nodes.json'));
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    rmSync(db.path);
    symlinkSync(victim, db.path);
    expect(thrown(() => db.update(TARGET, undefined, 'node.startup', 'automatic'))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
    expect(readFileSync(victim, 'utf8')).toBe('root only\n');
  });

  it('a state folder that group or others can write is refused, also when it becomes so after opening', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    chmodSync(stateDir, 0o777);
    expect(thrown(() => db.update(TARGET, undefined, 'node.startup', 'automatic'))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/writable by others/) });
    expect(() => db.list()).toThrow(StorageError);
    chmodSync(stateDir, 0o770);
    expect(thrown(() => new NodeDatabase({ stateDir }))).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE', message: expect.stringMatching(/writable by its group/) });
    chmodSync(stateDir, 0o700);
    expect(db.update(TARGET, undefined, 'node.startup', 'automatic').settings['node.startup']).toBe('automatic');
  });

  it('a nodes.json that others may write is refused', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    chmodSync(db.path, 0o666);
    expect(thrown(() => db.list())).toMatchObject({ code: 'ISCSI_STORAGE_UNSAFE' });
  });

  it('leftover nodes.json.tmp-* files of a killed write are removed when the database opens', () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'nodes.json.tmp-17650000001a2b3c'), '{"half":');
    writeFileSync(join(stateDir, 'other.tmp-1'), 'not ours');
    new NodeDatabase({ stateDir }).list();
    expect(readdirSync(stateDir).sort()).toEqual(['nodes.json', 'other.tmp-1']);
  });
});

describe('discovered nodes (RFC 7143 §13.8 TargetAddress=domainname[:port][,portal-group-tag])', () => {
  it('records target × portal with its tag, IPv6 in brackets, and where it was discovered', () => {
    const db = new NodeDatabase({ stateDir });
    const records = db.upsertDiscovered('10.0.0.5:3260', [
      { targetName: TARGET, portals: [{ host: '10.0.0.5', port: 3260, portalGroupTag: 3 }, { host: 'fe80::1', port: 3260 }] },
    ]);
    expect(records.map((r) => [r.portal, r.portalGroupTag, r.discoveredVia])).toEqual([
      ['10.0.0.5:3260', 3, '10.0.0.5:3260'],
      ['[fe80::1]:3260', 1, '10.0.0.5:3260'],
    ]);
    expect(Number.isNaN(Date.parse(records[0]?.discoveredAt ?? ''))).toBe(false);
    expect(records[0]?.settings).toEqual(Object.fromEntries([...NODE_KEYS].map(([k, d]) => [k, d.default])));
    expect(new NodeDatabase({ stateDir }).list()).toEqual(records);
  });

  it('keeps existing settings when a node is discovered again', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    db.update(TARGET, undefined, 'node.startup', 'automatic');
    const again = db.upsertDiscovered('10.0.0.5', [{ targetName: TARGET, portals: [{ host: '10.0.0.5', port: 3260, portalGroupTag: 7 }] }]);
    expect(again[0]?.settings['node.startup']).toBe('automatic');
    expect(again[0]?.portalGroupTag).toBe(7);
    expect(db.list()).toHaveLength(3);
  });

  it('RFC 3722: names compare case-insensitively (kept in lower case)', () => {
    const db = new NodeDatabase({ stateDir });
    db.upsertDiscovered('10.0.0.5', [{ targetName: 'IQN.2004-04.com.EXAMPLE:Disk1', portals: [{ host: '10.0.0.5', port: 3260 }] }]);
    expect(db.get(TARGET)?.targetName).toBe(TARGET);
    expect(db.get('iqn.2004-04.com.example:DISK1')).toBeDefined();
  });

  it('writes nothing when any of the input is bad (bad IQN, bad port, bad tag)', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const before = fileText(db);
    for (const targets of [
      [{ targetName: OTHER, portals: [{ host: 'h', port: 3260 }] }, { targetName: 'iqn.bad', portals: [{ host: 'h', port: 3260 }] }],
      [{ targetName: OTHER, portals: [{ host: 'h', port: 0 }] }],
      [{ targetName: OTHER, portals: [{ host: 'h', port: 3260, portalGroupTag: 70000 }] }],
      [{ targetName: OTHER, portals: [{ host: '', port: 3260 }] }],
    ]) {
      expect(() => db.upsertDiscovered('10.0.0.5', targets)).toThrow(ArgumentError);
    }
    expect(() => db.upsertDiscovered('', [])).toThrow(ArgumentError);
    expect(fileText(db)).toBe(before);
  });
});

describe('lookup and delete', () => {
  it('get: portal optional when the target has one portal; ArgumentError naming the portals when ambiguous', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(db.get(TARGET)?.portal).toBe('10.0.0.5:3260');
    expect(db.get(OTHER, '[fe80::1]:3261,2')?.portalGroupTag).toBe(2);
    const error = thrown(() => db.get(OTHER));
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as ArgumentError).message).toContain('[fe80::1]:3261');
    expect(db.get('iqn.2004-04.com.example:none')).toBeUndefined();
    expect(db.get(TARGET, '10.0.0.9')).toBeUndefined();
  });

  it('bad IQN or portal in a lookup → ArgumentError (RFC 7143 §4.2.7 name formats)', () => {
    const db = new NodeDatabase({ stateDir });
    for (const f of [() => db.get('disk1'), () => db.get(TARGET, 'a b'), () => db.list({ targetName: 'iqn.x' }), () => db.delete('eui.12')]) {
      expect(f).toThrow(ArgumentError);
    }
  });

  it('list filters by target and portal', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(db.list({ targetName: OTHER })).toHaveLength(2);
    expect(db.list({ portal: '10.0.0.5' }).map((r) => r.targetName)).toEqual([TARGET, OTHER]);
  });

  it('delete one portal, or every portal of the target, and returns how many', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(db.delete(OTHER, 'fe80::1:3261')).toBe(0); // bare IPv6 has no port: that is another portal
    expect(db.delete(OTHER, '[fe80::1]:3261')).toBe(1);
    discovered(db);
    expect(db.delete(OTHER)).toBe(2);
    expect(db.delete(OTHER)).toBe(0);
    expect(new NodeDatabase({ stateDir }).list().map((r) => r.targetName)).toEqual([TARGET]);
  });
});

describe('settings', () => {
  it('has every open-iscsi key the daemon needs, each default canonical', () => {
    for (const key of [
      'node.startup',
      'node.session.auth.authmethod',
      'node.session.auth.username',
      'node.session.auth.username_in',
      'node.session.auth.chap_algs',
      'node.session.timeo.replacement_timeout',
      'node.conn[0].timeo.noop_out_interval',
      'node.conn[0].timeo.noop_out_timeout',
      'node.conn[0].timeo.login_timeout',
      'node.conn[0].timeo.logout_timeout',
      'node.session.iscsi.InitialR2T',
      'node.session.iscsi.ImmediateData',
      'node.session.iscsi.FirstBurstLength',
      'node.session.iscsi.MaxBurstLength',
      'node.session.iscsi.MaxOutstandingR2T',
      'node.conn[0].iscsi.HeaderDigest',
      'node.conn[0].iscsi.DataDigest',
      'node.conn[0].iscsi.MaxRecvDataSegmentLength',
      'node.session.queue_depth',
    ]) {
      const definition = NODE_KEYS.get(key);
      expect(definition, key).toBeDefined();
      expect(definition?.validate(definition.default)).toBe(definition?.default);
      expect(definition?.description.length).toBeGreaterThan(0);
    }
  });

  it.each([
    ['node.startup', ' Automatic ', 'automatic'],
    ['node.session.auth.authmethod', 'chap', 'CHAP'],
    ['node.session.auth.username', 'alice@nas', 'alice@nas'],
    ['node.session.auth.chap_algs', 'sha3-256, sha256,sha1,md5', 'SHA3-256,SHA256,SHA1,MD5'], // RFC 7143 §12.1.3 CHAP_A
    ['node.session.auth.chap_algs', '7,5', 'SHA256,MD5'],
    ['node.session.timeo.replacement_timeout', '-1', '-1'],
    ['node.session.timeo.replacement_timeout', '0', '0'],
    ['node.conn[0].timeo.noop_out_interval', '0', '0'],
    ['node.conn[0].timeo.login_timeout', '030', '30'],
    ['node.session.iscsi.InitialR2T', 'yes', 'Yes'], // §6.1 boolean-value Yes|No
    ['node.session.iscsi.FirstBurstLength', '512', '512'], // §13.14 512..2^24-1
    ['node.session.iscsi.MaxBurstLength', '16777215', '16777215'],
    ['node.conn[0].iscsi.HeaderDigest', 'crc32c, None', 'CRC32C,None'], // §13.1 list of CRC32C / None
    ['node.conn[0].iscsi.DataDigest', 'None,CRC32C', 'None,CRC32C'],
    ['node.session.queue_depth', '128', '128'],
  ])('update %s = %j → %j', (key, value, canonical) => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(db.update(TARGET, '10.0.0.5:3260', key, value).settings[key]).toBe(canonical);
    expect(new NodeDatabase({ stateDir }).get(TARGET)?.settings[key]).toBe(canonical);
  });

  it.each([
    ['node.startup', 'onboot'],
    ['node.session.auth.authmethod', 'SRP'],
    ['node.session.auth.username', 'a\u0000b'],
    ['node.session.auth.username', 'x'.repeat(256)], // §6.1: text-value at most 255 bytes
    ['node.session.auth.chap_algs', 'MD4'],
    ['node.session.auth.chap_algs', ''],
    ['node.session.timeo.replacement_timeout', '-2'],
    ['node.session.timeo.replacement_timeout', '1.5'],
    ['node.conn[0].timeo.noop_out_timeout', '0'],
    ['node.session.iscsi.InitialR2T', 'true'],
    ['node.session.iscsi.FirstBurstLength', '511'], // §13.14 minimum 512
    ['node.session.iscsi.MaxOutstandingR2T', '0'], // §13.17 1..65535
    ['node.conn[0].iscsi.MaxRecvDataSegmentLength', '16777216'], // §13.12 at most 2^24-1
    ['node.conn[0].iscsi.HeaderDigest', 'CRC32C,CRC32C'],
    ['node.conn[0].iscsi.HeaderDigest', 'MD5'],
    ['node.session.queue_depth', '4097'],
  ])('update %s = %j → ArgumentError, nothing written', (key, value) => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const before = fileText(db);
    const error = thrown(() => db.update(TARGET, undefined, key, value));
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as ArgumentError).message).toContain(key);
    expect(fileText(db)).toBe(before);
  });

  it('RFC 7143 §13.14: FirstBurstLength must not exceed MaxBurstLength, whichever is changed', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(() => db.update(TARGET, undefined, 'node.session.iscsi.MaxBurstLength', '65536')).toThrow(/§13\.14/); // default FirstBurstLength is 262144
    db.update(TARGET, undefined, 'node.session.iscsi.FirstBurstLength', '8192');
    db.update(TARGET, undefined, 'node.session.iscsi.MaxBurstLength', '65536');
    expect(() => db.update(TARGET, undefined, 'node.session.iscsi.FirstBurstLength', '65537')).toThrow(/§13\.14/);
    db.update(TARGET, undefined, 'node.session.iscsi.FirstBurstLength', '65536');
    expect(() => db.update(TARGET, undefined, 'node.session.iscsi.MaxBurstLength', '8192')).toThrow(ArgumentError);
  });

  it('unknown key → ArgumentError naming close matches', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const typo = thrown(() => db.update(TARGET, undefined, 'node.session.auth.authmetod', 'CHAP')) as ArgumentError;
    expect(typo).toBeInstanceOf(ArgumentError);
    expect(typo.message).toContain('did you mean node.session.auth.authmethod');
    const short = thrown(() => db.update(TARGET, undefined, 'HeaderDigest', 'CRC32C')) as ArgumentError;
    expect(short.message).toContain('node.conn[0].iscsi.HeaderDigest');
    const far = thrown(() => db.update(TARGET, undefined, 'zzz', '1')) as ArgumentError;
    expect(far.message).not.toContain('did you mean');
    expect(far.hint).toContain('node.startup');
  });

  it('update of an unknown node, or without a portal when the target has several → ArgumentError', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    expect(() => db.update('iqn.2004-04.com.example:none', undefined, 'node.startup', 'manual')).toThrow(/no node/);
    expect(() => db.update(OTHER, undefined, 'node.startup', 'manual')).toThrow(/2 portals/);
    expect(db.update(OTHER, '[fe80::1]:3261', 'node.startup', 'automatic').settings['node.startup']).toBe('automatic');
    expect(db.get(OTHER, '10.0.0.5')?.settings['node.startup']).toBe('manual');
  });
});

describe('secrets never reach the file', () => {
  const SECRETS = ['s3cret-chap-outgoing', 's3cret-chap-incoming', 'hunter2-discovery'];
  const SECRET_KEYS = [
    'node.session.auth.password',
    'node.session.auth.password_in',
    'discovery.sendtargets.auth.password',
    'discovery.sendtargets.auth.password_in',
    'NODE.SESSION.AUTH.PASSWORD',
    'node.session.auth.secret',
  ];

  it('every password key is refused with a pointer to the secret store; the value is in neither the file nor the error', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    // Set every real key first, so the file is as full as it gets.
    for (const [key, definition] of NODE_KEYS) db.update(TARGET, undefined, key, definition.default);
    db.setInitiator('iqn.2001-04.com.example:mac', 'alias');
    for (const key of SECRET_KEYS) {
      for (const secret of SECRETS) {
        const error = thrown(() => db.update(TARGET, undefined, key, secret)) as ArgumentError;
        expect(error).toBeInstanceOf(ArgumentError);
        expect(error.hint).toContain('secret store');
        expect(JSON.stringify(error.toJSON())).not.toContain(secret);
        expect(error.message).not.toContain(secret);
      }
    }
    const text = fileText(db);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/password|secret/i);
    expect(Object.keys(db.get(TARGET)?.settings ?? {}).filter((k) => /password/i.test(k))).toEqual([]);
  });
});

describe('sessionSettings → SessionOptions fields', () => {
  it('defaults are the engine defaults (DEFAULT_PROPOSAL, queue depth 32, open-iscsi timeouts)', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const s = db.sessionSettings(db.get(TARGET) as never);
    expect(s).toEqual({
      proposal: {
        headerDigest: [...DEFAULT_PROPOSAL.headerDigest],
        dataDigest: [...DEFAULT_PROPOSAL.dataDigest],
        maxRecvDataSegmentLength: DEFAULT_PROPOSAL.maxRecvDataSegmentLength,
        maxBurstLength: DEFAULT_PROPOSAL.maxBurstLength,
        firstBurstLength: DEFAULT_PROPOSAL.firstBurstLength,
        initialR2T: DEFAULT_PROPOSAL.initialR2T,
        immediateData: DEFAULT_PROPOSAL.immediateData,
        maxOutstandingR2T: DEFAULT_PROPOSAL.maxOutstandingR2T,
      },
      replacementTimeoutMs: 120_000,
      noopOutIntervalMs: 5_000,
      noopOutTimeoutMs: 5_000,
      loginTimeoutMs: 15_000,
      logoutTimeoutMs: 15_000,
      queueDepth: 32,
      authMethod: 'None',
    });
  });

  it('maps every setting, in ms, with CHAP names and CHAP_A numbers (RFC 7143 §12.1.3); the proposal is one Negotiator accepts', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const set = (key: string, value: string) => db.update(TARGET, undefined, key, value);
    set('node.session.auth.authmethod', 'CHAP');
    set('node.session.auth.username', 'alice');
    set('node.session.auth.username_in', 'nas');
    set('node.session.auth.chap_algs', 'SHA3-256,SHA256,SHA1,MD5');
    set('node.session.timeo.replacement_timeout', '-1');
    set('node.conn[0].timeo.noop_out_interval', '0');
    set('node.conn[0].timeo.noop_out_timeout', '10');
    set('node.conn[0].timeo.login_timeout', '30');
    set('node.conn[0].timeo.logout_timeout', '2');
    set('node.session.iscsi.InitialR2T', 'Yes');
    set('node.session.iscsi.ImmediateData', 'No');
    set('node.conn[0].iscsi.HeaderDigest', 'CRC32C,None');
    set('node.conn[0].iscsi.DataDigest', 'CRC32C');
    set('node.session.iscsi.MaxOutstandingR2T', '1');
    const record = set('node.session.queue_depth', '64');
    const s = db.sessionSettings(record);
    expect(s).toMatchObject({
      replacementTimeoutMs: -1,
      noopOutIntervalMs: 0,
      noopOutTimeoutMs: 10_000,
      loginTimeoutMs: 30_000,
      logoutTimeoutMs: 2_000,
      queueDepth: 64,
      authMethod: 'CHAP',
      username: 'alice',
      usernameIn: 'nas',
      chapAlgorithms: [8, 7, 6, 5],
    });
    expect(s.proposal).toMatchObject({ headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C'], initialR2T: true, immediateData: false, maxOutstandingR2T: 1 });
    expect(() => new Negotiator('Normal', s.proposal)).not.toThrow();
  });

  it('a hand-made record with a bad value → ArgumentError', () => {
    const db = new NodeDatabase({ stateDir });
    expect(() => db.sessionSettings({ targetName: TARGET, portal: 'h:3260', portalGroupTag: 1, discoveredAt: '', settings: { 'node.session.queue_depth': '0' } })).toThrow(
      ArgumentError,
    );
  });
});

describe('initiator name (RFC 7143 §4.2.7)', () => {
  it('is generated once by the one generator (issue 9: one generator, one stored name), valid, and kept across restarts', () => {
    const db = new NodeDatabase({ stateDir });
    const first = db.initiator();
    expect(isValidIscsiName(first.name)).toBe(true);
    expect(first.name.startsWith(`${NAMING_AUTHORITY}:`)).toBe(true);
    expect(first.name).toMatch(/-[0-9a-f]{12}$/);
    expect(db.initiator()).toEqual(first);
    expect(new NodeDatabase({ stateDir }).initiator()).toEqual(first);
    // What a direct command reads without the daemon is the stored name.
    expect(storedInitiatorName(stateDir)).toBe(first.name);
    expect(storedInitiatorName(join(dir, 'nothing-here'))).toBeUndefined();
  });

  it('the generator: the same machine gives the same name; another machine (or none known) another', () => {
    const a = generateInitiatorName({ host: 'studio', machineId: '0123456789abcdef0123456789abcdef' });
    expect(generateInitiatorName({ host: 'studio', machineId: '0123456789abcdef0123456789abcdef' })).toBe(a);
    // Two Macs restored from one backup keep their host name but not their hardware identity.
    expect(generateInitiatorName({ host: 'studio', machineId: 'fedcba9876543210fedcba9876543210' })).not.toBe(a);
    expect(generateInitiatorName({ host: 'studio', machineId: undefined })).not.toBe(generateInitiatorName({ host: 'studio', machineId: undefined }));
  });

  it('setInitiator validates the name and the alias', () => {
    const db = new NodeDatabase({ stateDir });
    db.setInitiator('iqn.2001-04.com.example:mac', 'Office Mac');
    expect(new NodeDatabase({ stateDir }).initiator()).toEqual({ name: 'iqn.2001-04.com.example:mac', alias: 'Office Mac' });
    db.setInitiator('eui.02004567a425678d');
    expect(db.initiator()).toEqual({ name: 'eui.02004567A425678D' });
    for (const [name, alias] of [['mac', undefined], ['iqn.2001-13.com.example', undefined], ['iqn.2001-04.com.example:mac', 'bad\nalias']] as const) {
      expect(() => db.setInitiator(name, alias)).toThrow(ArgumentError);
    }
    expect(db.initiator()).toEqual({ name: 'eui.02004567A425678D' });
  });
});

describe('property: update never throws anything but ArgumentError and never corrupts the file', () => {
  it('arbitrary key/value: a canonical value persisted, or ArgumentError with the file untouched', () => {
    const db = new NodeDatabase({ stateDir });
    discovered(db);
    const keys = [...NODE_KEYS.keys()];
    const key = fc.oneof(
      fc.constantFrom(...keys, 'node.session.auth.password', 'node.session.auth.password_in', 'node.startup ', 'Node.Startup'),
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    const value = fc.oneof(
      fc.constantFrom('Yes', 'no', ' YES ', 'None', 'crc32c,none', 'CRC32C,CRC32C', 'md5,sha3-256', 'SHA256, MD5', 'manual', 'Automatic', 'CHAP', '-1', '0', '007', '', '512', '16777215'),
      fc.integer({ min: -5, max: 2 ** 25 }).map(String),
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 300 }),
    );
    fc.assert(
      fc.property(key, value, (k, v) => {
        const before = fileText(db);
        const expected = db.get(TARGET);
        let record;
        try {
          record = db.update(TARGET, undefined, k, v);
        } catch (error) {
          expect(error).toBeInstanceOf(ArgumentError);
          expect(fileText(db)).toBe(before);
          expect(new NodeDatabase({ stateDir }).get(TARGET)).toEqual(expected);
          return;
        }
        const definition = NODE_KEYS.get(k);
        expect(definition).toBeDefined();
        const canonical = record.settings[k] as string;
        expect(definition?.validate(canonical)).toBe(canonical);
        expect(definition?.validate(v)).toBe(canonical);
        const reloaded = new NodeDatabase({ stateDir }).get(TARGET);
        expect(reloaded).toEqual(record);
        expect(reloaded?.settings).toEqual({ ...expected?.settings, [k]: canonical });
        expect(() => db.sessionSettings(record)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
