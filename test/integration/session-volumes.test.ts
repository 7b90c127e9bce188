// SessionManager's side of issue 12's "Logout and iscsid shutdown unmount the LUNs' volumes first … A busy volume
// refuses the logout with a clear error naming it, unless forced. Then the target is destroyed, then the session logs
// out", in process: a real HBA simulator (DaemonHba) and the TypeScript test target, with the volume seam scripted —
// an unmount that never answers, a refusal racing the daemon's shutdown — which no real file system does on cue.
// The real volumes (ext4 through nbdfuse and losetup) are in iscsid-hba-volumes.test.ts.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VolumeBusyError } from '../../core/src/errors.js';
import { DaemonHba } from '../../core/src/daemon/hba-attachment.js';
import { NodeDatabase } from '../../core/src/daemon/node-db.js';
import { openSecretStore } from '../../core/src/daemon/secrets.js';
import { SessionManager } from '../../core/src/daemon/session-manager.js';
import type { DiskVolumes, VolumeReleaseOptions } from '../../core/src/daemon/volumes/disk-volumes.js';
import { buildSimulator } from '../src/hba-sim-build.js';
import { requireTool } from '../src/require-tool.js';
import { DEFAULT_TARGET_NAME, TestTarget } from '../src/test-target/index.js';

const ready = requireTool('make');

/** A volume seam answering from a script: each release call is recorded and answered by `answer`. */
class ScriptedVolumes implements DiskVolumes {
  readonly calls: Array<{ targetId: number; luns: readonly number[]; force: boolean }> = [];
  constructor(public answer: (options: VolumeReleaseOptions) => Promise<string[]>) {}
  view(): { disk?: string; mountPoints: readonly string[] } {
    return { mountPoints: ['/mnt/scripted'] };
  }
  release(targetId: number, luns: readonly number[], options: VolumeReleaseOptions): Promise<string[]> {
    this.calls.push({ targetId, luns, force: options.force });
    return this.answer(options);
  }
}

const never = () => new Promise<string[]>(() => {});
const busy = () => Promise.reject(new VolumeBusyError({ disk: '/dev/loop9', mountPoint: '/mnt/scripted' }));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  if (ready) buildSimulator();
}, 200_000);

/** A logged-in session with its HBA target, logout_timeout 1 s; the manager's volume events recorded. */
async function setUp(volumes: ScriptedVolumes) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'session-volumes-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const target = await TestTarget.start();
  cleanups.push(() => target.close());
  const log = () => {};
  const hba = (await DaemonHba.attach({ kind: 'simulator', socketPath: path.join(dir, 'hba.sock'), nbdDir: path.join(dir, 'nbd'), log }))!;
  cleanups.push(() => hba.close());
  const db = new NodeDatabase({ stateDir: path.join(dir, 'state'), log });
  db.upsertDiscovered(target.address, [{ targetName: DEFAULT_TARGET_NAME, portals: [{ ...target.portal, portalGroupTag: 1 }] }]);
  db.update(DEFAULT_TARGET_NAME, undefined, 'node.conn[0].timeo.logout_timeout', '1');
  const secrets = await openSecretStore({ stateDir: path.join(dir, 'secrets') });
  const events = { released: [] as string[][], leftInUse: [] as string[] };
  const manager = new SessionManager(
    db,
    secrets,
    {
      stateChanged: () => {},
      lunsChanged: () => {},
      volumesReleased: (e) => events.released.push(e.steps),
      volumesLeftInUse: (e) => events.leftInUse.push(e.error),
    },
    hba,
    volumes,
  );
  cleanups.push(async () => {
    volumes.answer = () => Promise.resolve([]);
    await manager.shutdown();
  });
  const { sid } = await manager.login(DEFAULT_TARGET_NAME);
  const disk = manager.get(sid).luns[0]!.disk!;
  expect(disk).toMatch(/^nbd\+unix:/);
  return { manager, sid, events, exportSocket: disk.slice(disk.indexOf('socket=') + 'socket='.length) };
}

describe.runIf(ready)('SessionManager: volumes before the HBA target goes (issue 12)', () => {
  it('LunInfo.mountPoints comes from the volume seam; the disk from the HBA', { timeout: 30_000 }, async () => {
    const { manager, sid } = await setUp(new ScriptedVolumes(() => Promise.resolve([])));
    expect(manager.get(sid).luns[0]).toMatchObject({ disk: expect.stringMatching(/^nbd\+unix:/), mountPoints: ['/mnt/scripted'] });
  });

  it('refused: ISCSI_VOLUME_BUSY, the session logged in and its disk still there; a logout afterwards may go on', { timeout: 30_000 }, async () => {
    const volumes = new ScriptedVolumes(busy);
    const { manager, sid, exportSocket } = await setUp(volumes);
    await expect(manager.logout(sid)).rejects.toMatchObject({ code: 'ISCSI_VOLUME_BUSY', mountPoint: '/mnt/scripted' });
    expect(manager.list()).toEqual([expect.objectContaining({ sid, state: 'logged-in' })]);
    expect(existsSync(exportSocket)).toBe(true);
    volumes.answer = () => Promise.resolve(['unmounted /mnt/scripted']);
    await expect(manager.logout(sid, { force: true })).resolves.toMatchObject({ sid, clean: true });
    expect(volumes.calls.map((c) => c.force)).toEqual([false, true]);
    expect(existsSync(exportSocket)).toBe(false);
  });

  it('an unmount that never answers: unforced, refused after logout_timeout; forced, the target goes anyway, said loudly', { timeout: 30_000 }, async () => {
    const volumes = new ScriptedVolumes(never);
    const { manager, sid, events, exportSocket } = await setUp(volumes);
    const refused = await manager.logout(sid).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(VolumeBusyError);
    expect((refused as Error).message).toMatch(/the unmount did not finish within 1000 ms \(logout_timeout\)/);
    expect(manager.list()).toHaveLength(1);
    const outcome = await manager.logout(sid, { force: true });
    expect(outcome).toMatchObject({ sid, clean: true });
    expect(events.leftInUse).toEqual([expect.stringMatching(/did not finish within 1000 ms.*the target goes anyway/)]);
    expect(existsSync(exportSocket)).toBe(false);
  });

  it('iscsid stopping while a client\'s logout is being refused: the shutdown forces its own and logs the session out', { timeout: 30_000 }, async () => {
    let refuse: (e: Error) => void = () => {};
    const volumes = new ScriptedVolumes((o) => (o.force ? Promise.resolve(['unmounted /mnt/scripted']) : new Promise((_, reject) => (refuse = reject))));
    const { manager, sid, events } = await setUp(volumes);
    const clientLogout = manager.logout(sid).catch((e: unknown) => e);
    const stopping = manager.shutdown();
    refuse(new VolumeBusyError({ disk: '/dev/loop9', mountPoint: '/mnt/scripted' }));
    expect(await clientLogout).toBeInstanceOf(VolumeBusyError);
    expect(await stopping).toEqual([expect.objectContaining({ sid, clean: true })]);
    expect(volumes.calls.map((c) => c.force)).toEqual([false, true]);
    expect(events.released).toEqual([['unmounted /mnt/scripted']]);
    expect(manager.list()).toEqual([]);
  });

  it('iscsid stopping with volumes that refuse even forced: the target is destroyed anyway and the session logs out', { timeout: 30_000 }, async () => {
    const { manager, sid, events } = await setUp(new ScriptedVolumes(busy));
    expect(await manager.shutdown()).toEqual([expect.objectContaining({ sid, clean: true })]);
    expect(events.leftInUse).toEqual([expect.stringContaining('ISCSI_VOLUME_BUSY: the volume mounted at /mnt/scripted')]);
  });
});
