// Who uses an NBD export of the HBA simulator (issue 12: "a busy volume refuses the logout … naming it"): the
// processes that name its socket, the nbdfuse mounts they serve, the loop devices over those files, and the file
// systems mounted from the loop devices. Composed from a snapshot of /proc and /sys; reading them is apart.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { namesSocket, parseBackingFile, parseCmdline, parseMountInfo, type MountEntry } from './proc-text.js';

export interface ProcessEntry {
  readonly pid: number;
  /** /proc/<pid>/comm. */
  readonly name: string;
  readonly argv: readonly string[];
  /** Its working folder: a relative mount point in its arguments is resolved against it. */
  readonly cwd: string | undefined;
}

export interface LoopEntry {
  /** `/dev/loop3`. */
  readonly device: string;
  readonly backingFile: string;
  /** The device and its partitions (`/dev/loop3p1`), each with its `major:minor`. */
  readonly nodes: ReadonlyArray<{ readonly device: string; readonly majorMinor: string }>;
}

/** What the kernel says now, as the probe needs it. */
export interface SystemSnapshot {
  readonly mounts: readonly MountEntry[];
  readonly processes: readonly ProcessEntry[];
  readonly loops: readonly LoopEntry[];
}

export interface ExportUsers {
  /** File systems mounted from a loop device over the export: the volumes, as `session -P 3` shows them. */
  readonly volumes: ReadonlyArray<{ readonly mountPoint: string; readonly device: string }>;
  /** Loop devices whose backing file is the export's nbdfuse file. */
  readonly loops: readonly string[];
  /** nbdfuse (FUSE) mounts that show the export as a file. */
  readonly fuseMounts: readonly string[];
  /** Processes whose command line names the export's socket (nbdfuse, nbdcopy, fio, qemu-img …). */
  readonly clients: ReadonlyArray<{ readonly pid: number; readonly name: string }>;
}

export const NO_USERS: ExportUsers = { volumes: [], loops: [], fuseMounts: [], clients: [] };

/** Whether anything uses the export. */
export function inUse(users: ExportUsers): boolean {
  return users.volumes.length + users.loops.length + users.fuseMounts.length + users.clients.length > 0;
}

/**
 * The chain from an export's socket to its volumes: a client process naming the socket → the FUSE mount among its
 * path arguments (nbdfuse's MOUNTPOINT[/FILENAME]) → loop devices backed by a file on it → mounts of those devices.
 * `self` (iscsid) is never a client of its own export.
 */
export function exportUsers(socket: string, system: SystemSnapshot, self: number = process.pid): ExportUsers {
  const clients = system.processes.filter((p) => p.pid !== self && p.argv.some((arg) => namesSocket(arg, socket)));
  const fuseMounts = new Set<string>();
  for (const client of clients) {
    for (const arg of client.argv.slice(1)) {
      if (arg.startsWith('-') || arg.includes('://') || !arg.includes('/')) continue;
      const full = path.resolve(client.cwd ?? '/', arg);
      for (const candidate of [full, path.dirname(full)]) {
        if (system.mounts.some((m) => m.mountPoint === candidate && m.fsType.startsWith('fuse'))) fuseMounts.add(candidate);
      }
    }
  }
  const under = (file: string, dir: string) => file === dir || file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  const loops = system.loops.filter((l) => [...fuseMounts].some((m) => under(l.backingFile, m)));
  const volumes: Array<{ mountPoint: string; device: string }> = [];
  for (const loop of loops) {
    for (const node of loop.nodes) {
      for (const m of system.mounts) if (m.device === node.majorMinor || m.source === node.device) volumes.push({ mountPoint: m.mountPoint, device: node.device });
    }
  }
  return {
    volumes: volumes.sort((a, b) => a.mountPoint.localeCompare(b.mountPoint)),
    loops: loops.map((l) => l.device),
    fuseMounts: [...fuseMounts].sort(),
    clients: clients.map((c) => ({ pid: c.pid, name: c.name })),
  };
}

/** Reads the snapshot from /proc and /sys (a process or loop device that goes away meanwhile is left out). */
export function readSystem(proc = '/proc', sys = '/sys'): SystemSnapshot {
  const mounts = parseMountInfo(readFileSync(path.join(proc, 'self/mountinfo'), 'utf8'));
  const processes: ProcessEntry[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = parseCmdline(readFileSync(path.join(proc, entry, 'cmdline'), 'utf8'));
      if (argv.length === 0) continue; // a kernel thread
      const name = readFileSync(path.join(proc, entry, 'comm'), 'utf8').trim();
      processes.push({ pid: Number(entry), name, argv, cwd: readOptional(() => readlinkSync(path.join(proc, entry, 'cwd'))) });
    } catch {
      // gone meanwhile
    }
  }
  const loops: LoopEntry[] = [];
  const block = path.join(sys, 'block');
  for (const name of readOptional(() => readdirSync(block)) ?? []) {
    if (!/^loop\d+$/.test(name)) continue;
    const backingFile = readOptional(() => parseBackingFile(readFileSync(path.join(block, name, 'loop/backing_file'), 'utf8')));
    if (backingFile === undefined) continue; // not attached
    const nodes = [name, ...(readOptional(() => readdirSync(path.join(block, name))) ?? []).filter((p) => p.startsWith(`${name}p`))].flatMap((node) => {
      const dev = readOptional(() => readFileSync(path.join(block, name, node === name ? '' : node, 'dev'), 'utf8').trim());
      return dev === undefined ? [] : [{ device: `/dev/${node}`, majorMinor: dev }];
    });
    loops.push({ device: `/dev/${name}`, backingFile, nodes });
  }
  return { mounts, processes, loops };
}

function readOptional<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
