// Issue 9: "An IscsiError brand that survives two copies of the module" (undici lib/core/errors.js brands with
// Symbol.for). Two copies are loaded here as a bundle and a dependency would be: the same module under two URLs, so
// each copy has its own classes.
import { describe, expect, it } from 'vitest';

// The source module under two query strings: two module instances, no build needed.
const SOURCE = new URL('../src/errors.ts', import.meta.url);

type ErrorsModule = typeof import('../src/errors.js');

async function twoCopies(): Promise<[ErrorsModule, ErrorsModule]> {
  const one = (await import(/* @vite-ignore */ `${SOURCE.href}?copy=1`)) as ErrorsModule;
  const two = (await import(/* @vite-ignore */ `${SOURCE.href}?copy=2`)) as ErrorsModule;
  return [one, two];
}

describe('IscsiError brand across two copies of core/src/errors.ts', () => {
  it('the copies are distinct classes, yet instanceof holds across them for the base class and the same subclass', async () => {
    const [one, two] = await twoCopies();
    expect(one.IscsiError).not.toBe(two.IscsiError);
    const e = new one.TransportError('ISCSI_NOP_TIMEOUT', 'no answer');
    expect(e instanceof two.IscsiError).toBe(true);
    expect(e instanceof two.TransportError).toBe(true);
    expect(two.isIscsiError(e)).toBe(true);
  });

  it('a different subclass or a plain Error is not taken for one', async () => {
    const [one, two] = await twoCopies();
    const e = new one.TransportError('ISCSI_COMMAND_TIMEOUT', 'late');
    expect(e instanceof two.ScsiError).toBe(false);
    expect(e instanceof two.LoginError).toBe(false);
    expect(new Error('x') instanceof two.IscsiError).toBe(false);
    expect(Object.assign(new Error('x'), { code: 'ISCSI_TIMEOUT' }) instanceof two.IscsiError).toBe(false);
    expect((null as unknown as object) instanceof two.IscsiError).toBe(false);
  });

  it('within one copy instanceof is unchanged', async () => {
    const [one] = await twoCopies();
    const e = new one.ScsiError('ISCSI_TASK_ABORTED', 'aborted');
    expect(e instanceof one.ScsiError).toBe(true);
    expect(e instanceof one.IscsiError).toBe(true);
    expect(e instanceof Error).toBe(true);
    expect(e instanceof one.TransportError).toBe(false);
  });
});
