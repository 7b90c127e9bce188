// The daemon checks every call's params against the contract before a handler runs (docs/api.md, Transport:
// "Every value is checked against the contract, and a name the method does not take is refused").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { RPC_METHODS, type RpcMethod } from '../../src/rpc/contract.js';
import { MAX_PARAM_LENGTH, validateParams } from '../../src/rpc/params.js';
import { parsePortal } from '../../src/portal.js';
import { secretLookupOrder } from '../../src/rpc/secret-rules.js';

describe('validateParams', () => {
  it('accepts what the contract allows and returns it unchanged', () => {
    expect(validateParams('sessions.get', { sid: 3 })).toEqual({ sid: 3 });
    expect(validateParams('nodes.list', undefined)).toEqual({});
    expect(validateParams('secrets.has', { targetName: '', kind: 'password' })).toEqual({ targetName: '', kind: 'password' });
    expect(validateParams('nodes.update', { targetName: 'iqn.2004-04.com.example:d', key: 'node.startup', value: '' })).toMatchObject({ value: '' });
    expect(validateParams('sessions.logout', { sid: 1, force: false })).toEqual({ sid: 1, force: false });
    expect(validateParams('sessions.logout', { all: true, force: true })).toEqual({ all: true, force: true });
  });

  it.each([
    ['sessions.get', { sid: 'one' }, /params\.sid must be a positive integer/],
    ['sessions.get', { sid: 0 }, /positive integer/],
    ['sessions.get', {}, /params\.sid is missing/],
    ['sessions.get', { sid: 1, sdi: 2 }, /has no parameter "sdi"/],
    ['sessions.list', { all: true }, /has no parameter "all"/],
    ['nodes.get', { targetName: '' }, /non-empty string/],
    ['secrets.set', { targetName: 'x', kind: 'discovery.password', secret: 's' }, /'password' or 'password_in'/],
    ['sessions.logout', { all: false }, /must be true/],
    // Issue 12: logout's force is a boolean; "yes" is not one.
    ['sessions.logout', { sid: 1, force: 'yes' }, /params\.force must be true or false/],
    ['sessions.logout', { all: true, force: 1 }, /params\.force must be true or false/],
    ['version', [1, 2], /by name/],
  ] as const)('%s %j is refused with ISCSI_BAD_ARGUMENT', (method, params, message) => {
    let error: unknown;
    try {
      validateParams(method as RpcMethod, params);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgumentError);
    expect(error).toMatchObject({ code: 'ISCSI_BAD_ARGUMENT', message: expect.stringMatching(message) });
  });

  it('property: for any method and any JSON params, either the params come back or ArgumentError, never anything else', () => {
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(RPC_METHODS) as RpcMethod[])), fc.jsonValue(), (method, params) => {
        try {
          expect(validateParams(method, params)).toEqual(params ?? {});
        } catch (e) {
          expect(e).toBeInstanceOf(ArgumentError);
        }
      }),
      { numRuns: 500 },
    );
  });

  // Issue 10: a portal of "\u0000" reached the resolver and came back as an internal error (-32603). Every string
  // parameter of every method is checked the same way: a control character or an over-long value is ISCSI_BAD_ARGUMENT
  // (Invalid params) naming the parameter, never quoting it.
  const stringParams = (Object.entries(RPC_METHODS) as Array<[RpcMethod, { params: Record<string, string> }]>).flatMap(([method, spec]) =>
    Object.entries(spec.params)
      .filter(([, kind]) => kind.startsWith('string') || kind.startsWith('text'))
      .map(([key]) => ({ method, key, spec: spec.params })),
  );
  /** Valid values for every other parameter of the method, so only `key` can be what is refused. */
  const others = (spec: Record<string, string>, key: string): Record<string, unknown> =>
    Object.fromEntries(Object.entries(spec).filter(([k, kind]) => k !== key && !kind.endsWith('?')).map(([k, kind]) => [k, kind === 'kind' ? 'password' : kind === 'sid' ? 1 : 'x']));
  const badString = fc.oneof(
    fc.tuple(fc.string({ maxLength: 20 }), fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), fc.string({ maxLength: 20 })).map(([a, c, b]) => `${a}${c}${b}`),
    fc.string({ maxLength: 20 }).map((s) => `${s}\u007f`),
    fc.integer({ min: MAX_PARAM_LENGTH + 1, max: MAX_PARAM_LENGTH * 4 }).map((n) => 'q'.repeat(n)),
  );

  it('property: a string parameter holding a control character (NUL, newline, DEL…) or over-long is refused, naming it', () => {
    expect(stringParams.length).toBeGreaterThan(10);
    fc.assert(
      fc.property(fc.constantFrom(...stringParams), badString, ({ method, key, spec }, value) => {
        let error: unknown;
        try {
          validateParams(method, { ...others(spec, key), [key]: value });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ArgumentError);
        expect(error).toMatchObject({ code: 'ISCSI_BAD_ARGUMENT', message: expect.stringContaining(`params.${key}`) });
        if (value.length > 3) expect((error as Error).message).not.toContain(value);
      }),
      { numRuns: 500 },
    );
  });

  it('a parameter of printable text up to the limit still passes (the limit is far above any name, portal or secret)', () => {
    expect(validateParams('nodes.get', { targetName: 'é'.repeat(MAX_PARAM_LENGTH) })).toMatchObject({ targetName: 'é'.repeat(MAX_PARAM_LENGTH) });
    expect(validateParams('initiator.set', { name: 'iqn.2026-11.test:x', alias: 'the big disk' })).toMatchObject({ alias: 'the big disk' });
  });

  it('property: parsePortal gives a portal with a printable host of at most 253 characters, or ArgumentError — nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('\u0000', 'h\u0000:3260', '[::1\u0000]:3260', `${'a'.repeat(254)}:3260`)), (text) => {
        try {
          const portal = parsePortal(text);
          expect(portal.host).not.toMatch(/[\u0000-\u001f\u007f]/);
          expect(portal.host.length).toBeLessThanOrEqual(253);
        } catch (e) {
          expect(e).toBeInstanceOf(ArgumentError);
          expect((e as Error).message).not.toMatch(/[\u0000-\u001f\u007f]/); // one printable line
        }
      }),
      { numRuns: 1000 },
    );
    expect(() => parsePortal('\u0000')).toThrow(ArgumentError);
  });

  it('a refusal never echoes the value (it may be a secret)', () => {
    expect(() => validateParams('secrets.set', { targetName: 'x', kind: 'password', secret: 5, extra: 'hunter2' })).toThrow(/^(?!.*hunter2)/);
  });
});

describe('the secret fallback rule (one function: secretLookupOrder)', () => {
  it('the portal\'s own secret first, then the one shared by the target\'s portals; without a portal, just that one', () => {
    expect(secretLookupOrder({ targetName: 't', portal: 'h:3260', kind: 'password' })).toEqual([
      { targetName: 't', portal: 'h:3260', kind: 'password' },
      { targetName: 't', kind: 'password' },
    ]);
    expect(secretLookupOrder({ targetName: 't', kind: 'password_in' })).toEqual([{ targetName: 't', kind: 'password_in' }]);
  });
});
