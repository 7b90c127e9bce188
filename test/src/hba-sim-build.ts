// The HBA simulator (driver/sim) built once per test file that runs iscsid --hba simulator: `make` is a no-op when it
// is up to date.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const driver = path.resolve(import.meta.dirname, '../../driver');

export function buildSimulator(): void {
  const built = spawnSync('make', ['-s', '-C', driver, 'sim'], { encoding: 'utf8', timeout: 180_000 });
  if (built.status !== 0) throw new Error(`make -C driver sim failed:\n${built.stdout}${built.stderr}`);
}
