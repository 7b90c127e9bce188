import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandWindow } from '../../src/session/command-window.js';
import { serialAdd, serialDistance, serialGt, serialLt, serialLte } from '../../src/session/serial.js';

describe('serial number arithmetic (RFC 1982 with SERIAL_BITS=32, required by RFC 7143 §4.2.2.1)', () => {
  it('orders numbers across the 2^32 wrap', () => {
    expect(serialLt(0xffffffff, 0)).toBe(true);
    expect(serialLt(0xfffffff0, 5)).toBe(true);
    expect(serialGt(5, 0xfffffff0)).toBe(true);
    expect(serialAdd(0xffffffff, 1)).toBe(0);
    expect(serialAdd(0, -1)).toBe(0xffffffff);
    expect(serialDistance(0xfffffffe, 1)).toBe(3);
  });

  it('§3.2: numbers exactly 2^31 apart are not comparable (neither is less)', () => {
    expect(serialLt(0, 0x80000000)).toBe(false);
    expect(serialLt(0x80000000, 0)).toBe(false);
  });

  it('a < a + n for 0 < n < 2^31, from any start', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
        const b = serialAdd(a, n);
        expect([serialLt(a, b), serialLt(b, a), serialLte(a, b), serialDistance(a, b)]).toEqual([true, false, true, n]);
      }),
    );
  });
});

describe('command window (RFC 7143 §4.2.2.1 CmdSN, ExpCmdSN, MaxCmdSN)', () => {
  it('a non-immediate command may go only while CmdSN ≤ MaxCmdSN', () => {
    const w = new CommandWindow(10, 10, 12);
    expect(w.available).toBe(3);
    expect([w.take(), w.take(), w.take()]).toEqual([10, 11, 12]);
    expect(w.open).toBe(false);
    expect(w.available).toBe(0);
  });

  it('a window of one: MaxCmdSN = ExpCmdSN', () => {
    const w = new CommandWindow(5, 5, 5);
    expect(w.take()).toBe(5);
    expect(w.open).toBe(false);
    expect(w.update(6, 6)).toBe(true);
    expect(w.take()).toBe(6);
  });

  it('wraps around 2^32 with the window open across the wrap', () => {
    const w = new CommandWindow(0xfffffffe, 0xfffffffe, 1);
    expect([w.take(), w.take(), w.take(), w.take()]).toEqual([0xfffffffe, 0xffffffff, 0, 1]);
    expect(w.open).toBe(false);
    expect(w.update(2, 0x21)).toBe(true);
    expect(w.available).toBe(0x20);
  });

  it('MaxCmdSN < ExpCmdSN - 1 is invalid and ignored', () => {
    const w = new CommandWindow(1, 1, 10);
    expect(w.update(20, 5)).toBe(false);
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([1, 10]);
  });

  it('MaxCmdSN = ExpCmdSN - 1 closes the window (a target with a full queue)', () => {
    const w = new CommandWindow(4, 4, 10);
    w.update(4, 3);
    expect(w.open).toBe(false);
    expect(w.update(4, 8)).toBe(true);
    expect(w.available).toBe(5);
  });

  it('a stale, older ExpCmdSN never moves the window back', () => {
    const w = new CommandWindow(8, 8, 20);
    w.update(8, 20);
    w.update(6, 20);
    expect(w.expCmdSN).toBe(8);
  });
});
