import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../src/errors.js';
import { loginAuthFrom } from '../src/login/auth.js';
import { formatPortal, parsePortal } from '../src/portal.js';
import { credentialsFromEnv, parseIscsiUrl, redactUrl } from '../src/url.js';
import { generateInitiatorName } from '../src/initiator-name.js';
import { isValidIscsiName } from '../src/iscsi-name.js';

describe('portals (RFC 7143 §13.8 TargetAddress=domainname[:port][,portal-group-tag], IPv6 in brackets)', () => {
  it.each([
    ['10.0.0.1', { host: '10.0.0.1', port: 3260 }],
    ['10.0.0.1:3261', { host: '10.0.0.1', port: 3261 }],
    ['10.0.0.1:3260,2', { host: '10.0.0.1', port: 3260, portalGroupTag: 2 }],
    ['nas.local', { host: 'nas.local', port: 3260 }],
    ['[fe80::1]:3262,1', { host: 'fe80::1', port: 3262, portalGroupTag: 1 }],
    ['[::1]', { host: '::1', port: 3260 }],
    ['::1', { host: '::1', port: 3260 }],
  ])('%s', (text, portal) => {
    expect(parsePortal(text)).toEqual(portal);
  });

  it.each(['', ':3260', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:x', '[::1', '[::1]3260', 'a b', '10.0.0.1,70000'])('rejects %j with ArgumentError', (text) => {
    expect(() => parsePortal(text)).toThrow(ArgumentError);
  });

  it('formats IPv6 in brackets and round-trips', () => {
    expect(formatPortal({ host: '::1', port: 3260 })).toBe('[::1]:3260');
    expect(formatPortal({ host: '::1', port: 3260, portalGroupTag: 4 }, true)).toBe('[::1]:3260,4');
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        expect(parsePortal(formatPortal({ host, port }))).toEqual({ host, port });
      }),
    );
  });

  it('never throws anything but ArgumentError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parsePortal(text);
        } catch (e) {
          expect(e).toBeInstanceOf(ArgumentError);
        }
      }),
    );
  });
});

describe('libiscsi URLs: iscsi://[user[%secret]@]host[:port]/target-iqn/lun', () => {
  it('parses every part', () => {
    const url = parseIscsiUrl('iscsi://alice%s3cret@[::1]:3261/iqn.2026-11.test:disk/3?header_digest=crc32c&data_digest=none&auth=sha-256,md5&target_user=t&target_password=tp');
    expect(url).toEqual({
      portal: { host: '::1', port: 3261 },
      targetName: 'iqn.2026-11.test:disk',
      lun: 3,
      user: 'alice',
      secret: 's3cret',
      targetUser: 't',
      targetSecret: 'tp',
      headerDigest: ['CRC32C'],
      dataDigest: ['None'],
      chapAlgorithms: [7, 5],
    });
  });

  it('a target IQN with colons and dots, no credentials, default port', () => {
    expect(parseIscsiUrl('iscsi://10.0.0.5/iqn.2004-04.com.qnap:ts-453:iscsi.disk1/0')).toMatchObject({
      portal: { host: '10.0.0.5', port: 3260 },
      targetName: 'iqn.2004-04.com.qnap:ts-453:iscsi.disk1',
      lun: 0,
      user: undefined,
    });
  });

  it.each([
    ['http://h/t/1', /must start with iscsi:/],
    ['iscsi://h', /missing the target name/],
    ['iscsi://h/t/x', /LUN "x"/],
    ['iscsi://h/t/16384', /LUN "16384"/],
    ['iscsi://h/t/1/2', /unexpected path/],
    ['iscsi://h/t/1?header_digest=md5', /header_digest must be crc32c, none, or a list of them/],
    ['iscsi://h/t/1?data_digest=crc32c,md5', /data_digest must be crc32c, none, or a list of them/],
    ['iscsi://h/t/1?header_digest=', /header_digest must be crc32c, none/],
    ['iscsi://h/t/1?header_digest=crc32c,crc32c', /names CRC32C twice/],
    ['iscsi://h/t/1?bogus=1', /unknown parameter "bogus"/],
    ['iscsi://h/t/1?auth=rot13', /rot13/],
    ['iscsi://%secret@h/t/1', /empty user name/],
  ])('rejects %s', (text, message) => {
    expect(() => parseIscsiUrl(text)).toThrow(expect.objectContaining({ code: 'ISCSI_BAD_URL', message: expect.stringMatching(message) }));
  });

  it('a digest list, as libiscsi and open-iscsi take it, is offered in its order (RFC 7143 §13.1; issue 9 §6)', () => {
    expect(parseIscsiUrl('iscsi://h/t/1?header_digest=crc32c,none&data_digest=None,CRC32C')).toMatchObject({
      headerDigest: ['CRC32C', 'None'],
      dataDigest: ['None', 'CRC32C'],
    });
    // Not given: undefined, so the session offers the default None,CRC32C; a single value stays strict.
    expect(parseIscsiUrl('iscsi://h/t/1')).toMatchObject({ headerDigest: undefined, dataDigest: undefined });
    expect(parseIscsiUrl('iscsi://h/t/1?header_digest=crc32c').headerDigest).toEqual(['CRC32C']);
  });

  it('requireLun insists on the LUN', () => {
    expect(() => parseIscsiUrl('iscsi://h/iqn.x:y', { requireLun: true })).toThrow(/missing the LUN/);
    expect(parseIscsiUrl('iscsi://h/iqn.x:y').lun).toBeUndefined();
  });

  it('redactUrl hides the secret and target_password (secrets never appear in logs)', () => {
    expect(redactUrl('iscsi://alice%s3cret@h/t/1?target_password=tp&x=1')).toBe('iscsi://alice%***@h/t/1?target_password=***&x=1');
    expect(redactUrl('iscsi://h/t/1')).toBe('iscsi://h/t/1');
  });
});

describe('credentials from the environment and how they become an AuthMethod', () => {
  it('reads the four ISCSI_CHAP_* variables, treating empty as unset', () => {
    expect(
      credentialsFromEnv({ ISCSI_CHAP_USERNAME: 'u', ISCSI_CHAP_SECRET: 's', ISCSI_CHAP_TARGET_USERNAME: '', ISCSI_CHAP_TARGET_SECRET: undefined }),
    ).toEqual({ user: 'u', secret: 's', targetUser: undefined, targetSecret: undefined });
  });

  it('none → AuthMethod None; user+secret → CHAP; plus target pair → mutual (RFC 7143 §12.1.3)', () => {
    expect(loginAuthFrom({})).toEqual({ method: 'None' });
    const chap = loginAuthFrom({ user: 'u', secret: 's' });
    expect(chap.method).toBe('CHAP');
    const mutual = loginAuthFrom({ user: 'u', secret: 's', targetUser: 't', targetSecret: 'ts' });
    expect(mutual.method === 'CHAP' && mutual.chap.targetCredentials?.username).toBe('t');
  });

  it.each([
    [{ secret: 's' }, /without a user name/],
    [{ user: 'u' }, /no CHAP secret/],
    [{ targetUser: 't', targetSecret: 'x' }, /need initiator CHAP credentials/],
    [{ user: 'u', secret: 's', targetUser: 't' }, /both the target user name and the target secret/],
  ])('half-given credentials %j are refused', (input, message) => {
    expect(() => loginAuthFrom(input)).toThrow(message);
  });
});

describe('iSCSI names (RFC 7143 §4.2.7)', () => {
  it.each(['iqn.2026-11.io.github.iscsi-initiator:mac', 'iqn.2004-04.com.qnap:ts-453:iscsi.disk1', 'eui.02004567A425678D', 'naa.52004567BA64678D'])('%s is valid', (name) => {
    expect(isValidIscsiName(name)).toBe(true);
  });
  it.each(['', 'iqn.2026-13.x:y', 'iqn.26-11.x', 'iqn.2026-11.Upper:x', 'eui.123', 'foo'])('%j is not', (name) => {
    expect(isValidIscsiName(name)).toBe(false);
  });
  it('the generated initiator name is a valid IQN for any host name and machine identity', () => {
    expect(generateInitiatorName({ host: 'MacBook-Pro.local', machineId: 'abc' })).toMatch(/^iqn\.2026-11\.io\.github\.iscsi-initiator:macbook-pro\.local-[0-9a-f]{12}$/);
    fc.assert(fc.property(fc.string(), fc.option(fc.string(), { nil: undefined }), (host, machineId) => isValidIscsiName(generateInitiatorName({ host, machineId }))));
  });
});
