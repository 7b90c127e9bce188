// The fault proxy between a real initiator (libiscsi's iscsi-inq) and a real target (tgtd): an integration test, apart
// from fault-proxy.test.ts so that `npm run test:unit` needs neither. Skipped locally without tgt or libiscsi-bin;
// under CI a missing tool fails the run (issue 9 §7).
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../src/fault-proxy.js';
import { requireTool } from '../src/require-tool.js';
import { startTgtd } from '../src/tgtd.js';

/** Rejects after `ms`: every wait in these tests is bounded. */
function within<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await within(Promise.resolve(c()), 'clean-up', 10_000);
});

describe.skipIf(!requireTool('tgtd', 'tgtadm', 'iscsi-inq'))('FaultProxy: through a real tgtd (libiscsi iscsi-inq)', () => {
  const IQN = 'iqn.2024-01.test.fault-proxy:disk';
  const inq = (portal: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile('iscsi-inq', [`iscsi://${portal}/${IQN}/1`], { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      ),
    );

  it('a login and INQUIRY pass through unchanged; a reset mid-login (RFC 7143 §7.1.1) makes it fail', async () => {
    const tgt = await startTgtd({ targets: [{ iqn: IQN }] });
    cleanups.push(() => tgt.stop());
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: tgt.port } });
    cleanups.push(() => proxy.close());

    const ok = await inq(proxy.portal);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
    // At least a Login Request and Response went each way (48-byte BHS, RFC 7143 §11.12, §11.13).
    expect(proxy.stats.accepted).toBe(1);
    expect(proxy.stats.bytesToTarget).toBeGreaterThan(48);
    expect(proxy.stats.bytesToInitiator).toBeGreaterThan(48);

    // Reset right after the Login Request's BHS: the initiator never gets a Login Response.
    const cut = proxy.cut({ mode: 'rst', afterBytes: 48, direction: 'to-target' });
    const failed = await inq(proxy.portal);
    await within(cut, 'the cut');
    expect(failed.code).not.toBe(0);
    expect(proxy.stats.cuts).toBe(1);
  });
});
