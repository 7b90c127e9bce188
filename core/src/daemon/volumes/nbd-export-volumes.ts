// The simulator's side of the volume seam (Linux): a LUN's disk is an NBD export, and what a person mounts from it is
// a chain made by hand — nbdfuse shows the export as a file, losetup makes the file a block device, mount mounts it.
import { execFile } from 'node:child_process';
import { DEFAULT_HOST_EVENTS } from '../../defaults.js';
import { VolumeBusyError } from '../../errors.js';
import type { DiskView, DiskVolumes, VolumeReleaseOptions } from './disk-volumes.js';
import { exportUsers, inUse, NO_USERS, readSystem, type ExportUsers, type SystemSnapshot } from './export-users.js';

/** Runs one command to its end (never a shell); resolves with its outcome, never rejects. */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<{ readonly ok: boolean; readonly message: string }>;

/**
 * execFile, asynchronous on purpose: an unmount writes the file system's dirty blocks through nbdfuse, the simulator
 * and this very daemon's bridge — a synchronous child would deadlock iscsid against itself.
 */
export const EXEC_COMMAND: CommandRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: DEFAULT_HOST_EVENTS.unmountStepMs }, (error, _stdout, stderr) => {
      resolve(error ? { ok: false, message: (stderr.trim().split('\n').at(-1) ?? '') || error.message } : { ok: true, message: '' });
    });
  });

export interface NbdExportVolumesOptions {
  /** The export's socket for an HBA target's LUN (the simulator's `<nbd-dir>/t<id>-lun<n>.sock`), when it exists. */
  readonly exportSocket: (targetId: number, lun: number) => string | undefined;
  readonly readSystem?: () => SystemSnapshot;
  readonly run?: CommandRunner;
}

/**
 * Without force, any user of a LUN's export refuses the logout, the mounts named first (a mount is where data waits
 * to be written), then loop devices, nbdfuse mounts, and last a bare client process. iscsid unmounts nothing here
 * unasked: on Linux nothing mounted these volumes but the person who built the chain. With force it takes the chain
 * down from the top — umount (lazily when busy: open files then get I/O errors), losetup -d, fusermount3 -u (lazily
 * when busy) — and passes over client processes: their connection closes with the export, their next I/O fails.
 */
export class NbdExportVolumes implements DiskVolumes {
  private readonly read: () => SystemSnapshot;
  private readonly run: CommandRunner;
  private cached: SystemSnapshot | undefined;

  constructor(private readonly options: NbdExportVolumesOptions) {
    this.read = options.readSystem ?? (() => readSystem());
    this.run = options.run ?? EXEC_COMMAND;
  }

  view(targetId: number, lun: number): DiskView {
    return { mountPoints: this.usersOf(targetId, lun).volumes.map((v) => v.mountPoint) };
  }

  async release(targetId: number, luns: readonly number[], options: VolumeReleaseOptions): Promise<string[]> {
    const steps: string[] = [];
    for (const lun of luns) {
      const socket = this.options.exportSocket(targetId, lun);
      if (socket === undefined) continue;
      const users = exportUsers(socket, this.read());
      if (!inUse(users)) continue;
      if (!options.force) throw busy(socket, users);
      steps.push(...(await this.takeDown(users)));
    }
    return steps;
  }

  private usersOf(targetId: number, lun: number): ExportUsers {
    const socket = this.options.exportSocket(targetId, lun);
    return socket === undefined ? NO_USERS : exportUsers(socket, this.viewSnapshot());
  }

  /** One reading of /proc and /sys serves every LUN of one `sessions.get` (the same turn); a logout always reads anew. */
  private viewSnapshot(): SystemSnapshot {
    if (this.cached === undefined) {
      this.cached = this.read();
      queueMicrotask(() => (this.cached = undefined));
    }
    return this.cached;
  }

  private async takeDown(users: ExportUsers): Promise<string[]> {
    const steps: string[] = [];
    // Deepest mount point first: a mount inside another keeps the outer one busy.
    for (const { mountPoint } of [...users.volumes].sort((a, b) => b.mountPoint.length - a.mountPoint.length)) {
      steps.push(await this.politeThenLazy(['umount', [mountPoint]], ['umount', ['--lazy', mountPoint]], `unmounted ${mountPoint}`));
    }
    // A loop device still open (a lazily unmounted file system) is only marked to go when its last user closes it.
    for (const loop of users.loops) {
      const done = await this.run('losetup', ['-d', loop]);
      steps.push(done.ok ? `detached ${loop}` : `losetup -d ${loop} failed: ${done.message}`);
    }
    for (const mountPoint of users.fuseMounts) {
      steps.push(await this.politeThenLazy(['fusermount3', ['-u', mountPoint]], ['fusermount3', ['-u', '-z', mountPoint]], `unmounted the nbdfuse mount ${mountPoint}`));
    }
    for (const client of users.clients) steps.push(`${client.name} (pid ${client.pid}) still uses the export: its I/O fails from now on`);
    return steps;
  }

  private async politeThenLazy(polite: [string, string[]], lazy: [string, string[]], done: string): Promise<string> {
    const first = await this.run(...polite);
    if (first.ok) return done;
    const second = await this.run(...lazy);
    return second.ok ? `${done} lazily (it was busy: ${first.message})` : `${polite[0]} ${polite[1].join(' ')} failed: ${second.message}`;
  }
}

/** The refusal names what most needs a person's attention: a mounted file system, else a loop device, else a process. */
function busy(socket: string, users: ExportUsers): VolumeBusyError {
  const holder = users.clients.map((c) => `${c.name} (pid ${c.pid})`).join(', ');
  const withHolder = holder === '' ? {} : { holder };
  const volume = users.volumes[0];
  if (volume) return new VolumeBusyError({ disk: volume.device, mountPoint: volume.mountPoint });
  const loop = users.loops[0];
  if (loop) return new VolumeBusyError({ disk: socket, holder: `loop device ${loop} over the nbdfuse mount ${users.fuseMounts[0]!}` });
  const fuse = users.fuseMounts[0];
  if (fuse) return new VolumeBusyError({ disk: socket, mountPoint: fuse, ...withHolder });
  return new VolumeBusyError({ disk: socket, ...withHolder });
}
