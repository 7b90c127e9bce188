// The daemon checks every call's params against the contract before a handler runs (docs/api.md, Transport:
// "Every value is checked against the contract, and a name the method does not take is refused").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { RPC_METHODS, type RpcMethod } from '../../src/rpc/contract.js';
import { validateParams } from '../../src/rpc/params.js';
import { secretLookupOrder } from '../../src/rpc/secret-rules.js';

describe('validateParams', () => {
  it('accepts what the contract allows and returns it unchanged', () => {
    expect(validateParams('sessions.get', { sid: 3 })).toEqual({ sid: 3 });
    expect(validateParams('nodes.list', undefined)).toEqual({});
    expect(validateParams('secrets.has', { targetName: '', kind: 'password' })).toEqual({ targetName: '', kind: 'password' });
    expect(validateParams('nodes.update', { targetName: 'iqn.2004-04.com.example:d', key: 'node.startup', value: '' })).toMatchObject({ value: '' });
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
