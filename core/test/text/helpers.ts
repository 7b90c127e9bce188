import { expect } from 'vitest';
import { IscsiError, type IscsiErrorCode } from '../../src/errors.js';

/** Runs fn and asserts it throws an IscsiError of the given class, code and (when given) key. */
export function expectError(
  fn: () => unknown,
  code: IscsiErrorCode,
  options: { key?: string; type?: abstract new (...args: never[]) => IscsiError } = {},
): IscsiError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(options.type ?? IscsiError);
  const error = thrown as IscsiError & { key?: string };
  expect(error.code).toBe(code);
  if (options.key !== undefined) expect(error.key).toBe(options.key);
  return error;
}

/** NUL-terminated records from a readable string form: "A=b|C=d|" means "A=b\0C=d\0". */
export function text(s: string): Buffer {
  return Buffer.from(s.replaceAll('|', '\0'), 'utf8');
}
