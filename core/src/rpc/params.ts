import { ArgumentError } from '../errors.js';
import { RPC_METHODS, type ParamKind, type RpcMethod, type RpcParams } from './contract.js';

/**
 * The longest string any parameter may hold. The longest real values are far shorter: an iSCSI name is at most 223
 * bytes (RFC 7143 §4.2.7.1), a DNS name 253, a node setting 255 (§6.1), a CHAP secret a few hundred at most.
 */
export const MAX_PARAM_LENGTH = 1024;

/** C0 controls and DEL: no name, portal, setting or secret holds one, and NUL ends a C string in the OS calls below. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Checks a call's params against the contract and returns them typed: by name only (a JSON object, or none when the
 * method takes none), no unknown names (a misspelt optional parameter must not be silently ignored), each value of
 * its kind. ArgumentError (JSON-RPC -32602) names the parameter, never echoes its value.
 */
export function validateParams<M extends RpcMethod>(method: M, params: unknown): RpcParams<M> {
  const spec: Readonly<Record<string, ParamKind>> = RPC_METHODS[method].params;
  if (params === undefined || params === null) params = {};
  if (typeof params !== 'object' || Array.isArray(params)) throw bad(`${method} takes its params by name (a JSON object)`);
  const given = params as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(spec, key)) {
      const known = Object.keys(spec);
      throw bad(`${method} has no parameter ${JSON.stringify(key)}`, known.length === 0 ? `${method} takes no params` : `its params: ${known.join(', ')}`);
    }
  }
  for (const [key, kind] of Object.entries(spec)) check(method, key, kind, given[key]);
  return given as RpcParams<M>;
}

function check(method: string, key: string, kind: ParamKind, value: unknown): void {
  const optional = kind.endsWith('?');
  if (value === undefined) {
    if (optional) return;
    throw bad(`${method}: params.${key} is missing`);
  }
  const base = optional ? kind.slice(0, -1) : kind;
  if (typeof value === 'string') {
    if (value.length > MAX_PARAM_LENGTH) throw bad(`${method}: params.${key} is longer than ${MAX_PARAM_LENGTH} characters`);
    if (CONTROL_CHARACTER.test(value)) throw bad(`${method}: params.${key} must not contain control characters`);
  }
  switch (base) {
    case 'string':
      if (typeof value !== 'string' || value === '') throw bad(`${method}: params.${key} must be a non-empty string`);
      return;
    case 'text':
      if (typeof value !== 'string') throw bad(`${method}: params.${key} must be a string`);
      return;
    case 'sid':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw bad(`${method}: params.${key} must be a positive integer`);
      return;
    case 'kind':
      if (value !== 'password' && value !== 'password_in') throw bad(`${method}: params.${key} must be 'password' or 'password_in'`);
      return;
    case 'true':
      if (value !== true) throw bad(`${method}: params.${key} must be true when given`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad(`${method}: params.${key} must be true or false`);
      return;
  }
}

function bad(message: string, hint?: string): ArgumentError {
  return new ArgumentError('ISCSI_BAD_ARGUMENT', message, hint === undefined ? {} : { hint });
}
