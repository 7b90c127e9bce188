import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests that need the build, root, tgtd or libiscsi: the integration project. Everything else is the unit project,
// which a contributor on a Mac runs with `npm run test:unit` (no root, no tgtd, no libiscsi, no compiler).
const INTEGRATION = [
  'test/integration/**/*.test.ts',
  // The CLI run as a user runs it (cli/bin/run.js over cli/dist) against tgtd and iscsid.
  'cli/test/*.test.ts',
  'test/test/tgtd.test.ts',
  'test/test/fault-proxy-tgtd.test.ts',
  'test/test/test-target-conformance.test.ts',
  'test/test/test-target-main.test.ts',
  // Builds and runs the HBA simulator (driver/sim) with fio and nbdinfo.
  'test/integration/hba-sim.test.ts',
  // The addon's HBA connection (native/src/hba*.cc) against the simulator, with nbdinfo and nbdcopy.
  'test/integration/hba-addon.test.ts',
  // iscsid --hba simulator with tgtd: a session becomes an NBD disk (nbdinfo, fio).
  'test/integration/iscsid-hba.test.ts',
  // iscsid --hba simulator: the disk's I/O in session.stats, `session -s` and `session watch` (nbdcopy, fio).
  'test/integration/iscsid-hba-stats.test.ts',
  // iscsid --hba simulator through the fault proxy and a tgtd restart: fio verify over cuts, replacement_timeout → EIO.
  'test/integration/hba-faults-net.test.ts',
  // iscsid --hba simulator with tgtd: 30 s of fio verify, ext4 across a logout, kill -9 iscsid under fio (nbdfuse, mount).
  'test/integration/hba-faults-data.test.ts',
  // iscsid --hba simulator with tgtd: a logout refused under a mounted ext4 (nbdfuse, losetup, mount), then forced.
  'test/integration/iscsid-hba-volumes.test.ts',
  // SessionManager over a real simulator and the test target, its volume seam scripted (a hung unmount, a race).
  'test/integration/session-volumes.test.ts',
  // Compiles driver/include/iscsi_hba_abi.h with gcc and g++ (the ABI mirror, issue 11).
  'core/test/hba/abi-mirror.test.ts',
  // The Raycast extension's data and action layer against a real iscsid and tgtd, and `ray build` (issue 13).
  'raycast-extension/test/lib/daemon.test.ts',
  'raycast-extension/test/ci/ray-build.test.ts',
  // The Raycast commands rendered (an @raycast/api stand-in) against a real iscsid and tgtd.
  'raycast-extension/test/views-live/**/*.test.tsx',
  // `npm run package` (installer/sea): the single executables, copied alone, against tgtd.
  'test/integration/package.test.ts',
];
const ALL = ['lint/test/**/*.test.ts', 'core/test/**/*.test.ts', 'cli/test/**/*.test.ts', 'test/test/**/*.test.ts', 'test/integration/**/*.test.ts', 'raycast-extension/test/**/*.test.{ts,tsx}'];

/**
 * The unit project reads core from its TypeScript sources, not from core/dist (no compiler needed): each entry point
 * in core/package.json's `exports` ('./dist/x.js') maps to core/src/x.ts.
 */
function coreFromSource(): Array<{ find: RegExp; replacement: string }> {
  const core = path.resolve(import.meta.dirname, 'core');
  const exports = JSON.parse(readFileSync(path.join(core, 'package.json'), 'utf8')).exports as Record<string, Record<string, string> | string>;
  return Object.entries(exports).flatMap(([subpath, target]) => {
    const file = typeof target === 'string' ? target : (target['import'] ?? target['default'] ?? target['node']);
    if (file === undefined || !/^\.\/dist\/.*\.js$/.test(file)) return [];
    const source = path.join(core, file.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));
    const name = `@iscsi-initiator/core${subpath === '.' ? '' : subpath.slice(1)}`;
    return { find: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`), replacement: source };
  });
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    pool: 'forks',
    expect: { requireAssertions: true },
    projects: [
      {
        extends: true,
        resolve: { alias: coreFromSource() },
        test: { name: 'unit', include: ALL, exclude: ['**/node_modules/**', ...INTEGRATION] },
      },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
    ],
  },
});
