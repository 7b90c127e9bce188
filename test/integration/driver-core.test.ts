// Issue 11 Tests: "The core's C++ unit tests, run in a build with AddressSanitizer and UndefinedBehaviorSanitizer,
// and the rings under two threads in a ThreadSanitizer build" — in `npm test`. Runs `make -C driver test` (both
// builds, both runs) with a time bound and reads each runner's "N passed, N failed" line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../src/require-tool.js';

const repo = path.resolve(import.meta.dirname, '../..');
const haveTools = requireTool('make', 'g++');

/** Runs make with a deadline; resolves with its exit code and output (never rejects: the test asserts). */
function make(args: string[], timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('make', ['-C', path.join(repo, 'driver'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe.skipIf(!haveTools)('driver/core under the sanitizers (make -C driver test)', () => {
  it('the unit tests pass under ASan+UBSan and the two-thread ring test under TSan', { timeout: 300_000 }, async () => {
    const { code, signal, output } = await make(['test'], 290_000);
    const summaries = [...output.matchAll(/^(\d+) passed, (\d+) failed$/gm)].map((m) => ({ passed: Number(m[1]), failed: Number(m[2]) }));
    expect(signal, output.slice(-4000)).toBeNull();
    expect(code, output.slice(-4000)).toBe(0);
    // Two runners: core-tests (ASan+UBSan) and ring-threads (TSan); neither may report a failure.
    expect(summaries).toHaveLength(2);
    for (const s of summaries) expect(s.failed).toBe(0);
    expect(summaries[0]!.passed).toBeGreaterThanOrEqual(20);
    expect(summaries[1]!.passed).toBe(1);
    expect(output).not.toMatch(/ERROR: (AddressSanitizer|ThreadSanitizer)|runtime error:/);
  });
});
