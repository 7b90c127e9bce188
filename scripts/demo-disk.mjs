// The demo's last part (issue 12): a session becomes a disk. iscsid runs with `--hba simulator` (Linux's stand-in for
// the macOS driver extension) and logs in; the LUN appears as the simulator's NBD export ("Attached disk:"); ext4 is
// made on it, a file is written and read back by its checksum; logout removes the export. Every step is bounded, and
// everything started here is undone in reverse order, on failure and on Ctrl-C too (`cleanups`).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync, watch } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What a filesystem step may take, at most (mkfs and umount flush through the whole stack). */
const STEP_MS = 60_000;
/** The largest LUN the copy mode (no FUSE or loop devices) copies back whole. */
const COPY_LIMIT = 1 << 30;
/** The file written and read back. */
const FILE_BYTES = 8 << 20;

/** Undo steps, run newest first, each once: by the demo's finally, or by its SIGINT handler. */
export class Cleanups {
  #steps = [];

  add(label, fn) {
    const entry = { label, fn, done: false };
    this.#steps.push(entry);
    return async () => {
      if (entry.done) return;
      entry.done = true;
      await fn();
    };
  }

  /** Steps not yet run: the disk part is under way. */
  get pending() {
    return this.#steps.filter((e) => !e.done).length;
  }

  async run() {
    for (const entry of this.#steps.reverse()) {
      if (entry.done) continue;
      entry.done = true;
      try {
        await entry.fn();
      } catch (e) {
        console.error(`demo: clean-up (${entry.label}) failed: ${e?.message ?? e}`);
      }
    }
    this.#steps = [];
  }
}

export const cleanups = new Cleanups();

/** Set by `interrupt` (Ctrl-C): no new step starts, the running one is stopped, and the demo unwinds through `cleanups`. */
let interrupted = false;
/** The commands of the steps now running (not those of the clean-up). */
const running = new Set();

export function interrupt() {
  interrupted = true;
  for (const child of running) child.kill('SIGINT');
}

/** How the filesystem reaches the LUN here (`{ mode: 'mount' | 'copy' }`), or why the disk part cannot run (`{ skip }`). */
export async function diskPlan(root) {
  const sim = path.join(root, 'driver', 'build', 'sim', 'iscsi-hba-sim');
  if (process.platform !== 'linux') return { skip: `the HBA simulator is Linux's stand-in for the macOS driver extension (on a Mac the disk is the dext's: docs/macos.md)` };
  if (!existsSync(sim)) return { skip: `no HBA simulator at ${path.relative(root, sim)}: build it with \`make -C driver sim\` (g++ and make)` };
  // iscsid takes logins (mutating calls) from root only (docs/security.md), as open-iscsi's iscsid does.
  if (process.getuid?.() !== 0) return { skip: 'iscsid takes logins from root only (docs/security.md): run the demo as root (sudo npm run demo)' };
  const missing = (tools) => tools.filter((t) => !onPath(t));
  if (!onPath('mkfs.ext4')) return { skip: 'needs mkfs.ext4 (Debian: e2fsprogs)' };
  // FUSE and loop devices: the LUN as a block device, a real mount.
  const fuse = missing(['nbdfuse', 'fusermount3']).length === 0 && (await canUse('/dev/fuse'));
  if (fuse && existsSync('/dev/loop-control') && missing(['losetup', 'mount', 'umount']).length === 0) return { mode: 'mount' };
  // Without them (a container): the filesystem is built in a local image, copied onto the LUN and back with nbdcopy.
  if (missing(['nbdcopy', 'debugfs']).length === 0) return { mode: 'copy' };
  return { skip: 'needs nbdfuse, fuse3 and loop devices, or nbdcopy and debugfs (Debian: nbdfuse, fuse3, libnbd-bin, e2fsprogs)' };
}

async function canUse(file) {
  try {
    await access(file, fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(tool) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, tool)));
}

/**
 * Runs a command, bounded; shows it as a user would type it unless `quiet`; rejects on a non-zero exit unless
 * `allowFail`. A `cleanup` command runs even after an interrupt (it is part of undoing).
 */
function exec(file, args, options = {}) {
  const { timeoutMs = STEP_MS, capture = false, quiet = false, allowFail = false, env, cleanup = false } = options;
  if (interrupted && !cleanup) return Promise.reject(new Error('interrupted'));
  const shown = options.shown ?? [file, ...args].join(' ');
  if (!quiet) console.log(`$ ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: env ?? process.env, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
    if (!cleanup) running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => (clearTimeout(timer), reject(e)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (interrupted && !cleanup) return reject(new Error('interrupted'));
      if (code === 0 || allowFail) resolve({ code, stdout, stderr });
      else reject(new Error(`${shown} failed (${signal ? `killed by ${signal} after ${timeoutMs} ms` : `exit code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/** Resolves true once `done()` holds (re-checked on each change in `dir`), false after `ms`. */
function until(dir, done, ms) {
  return new Promise((resolve) => {
    if (done()) return resolve(true);
    let settled = false;
    const watcher = watch(dir, () => done() && finish(true));
    const timer = setTimeout(() => finish(done()), ms);
    function finish(ok) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher.close();
      resolve(ok);
    }
  });
}

/** Waits for a child's exit, bounded; SIGKILL after `ms`. */
function stopped(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => (clearTimeout(timer), resolve()));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

let fuseMounts = 0;

/**
 * The LUN as a file through FUSE (nbdfuse), in its own process group so a Ctrl-C reaches only the demo, which then
 * unmounts in order. Returns the file and its undo.
 */
async function fuseDisk(dir, uri) {
  const mountpoint = path.join(dir, `fuse${++fuseMounts}`);
  await mkdir(mountpoint);
  const pidFile = `${mountpoint}.pid`;
  if (interrupted) throw new Error('interrupted');
  console.log(`$ nbdfuse ${path.join(mountpoint, 'disk')} '${uri}' &   # the LUN as a file, through FUSE`);
  const child = spawn('nbdfuse', ['-P', pidFile, path.join(mountpoint, 'disk'), uri], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  const undo = cleanups.add('nbdfuse', async () => {
    const { code } = await exec('fusermount3', ['-u', mountpoint], { quiet: true, allowFail: true, capture: true, cleanup: true, timeoutMs: 20_000 });
    // Still busy (a loop device not yet let go): detached lazily, so nbdfuse ends once the last user has gone.
    if (code !== 0) await exec('fusermount3', ['-u', '-z', mountpoint], { quiet: true, allowFail: true, cleanup: true, timeoutMs: 20_000 });
    await stopped(child, 20_000);
    await rm(pidFile, { force: true });
    await rm(mountpoint, { recursive: true, force: true });
  });
  // "When nbdfuse is ready to serve, write the nbdfuse process ID to the file" (nbdfuse(1) -P).
  const exited = new Promise((resolve) => child.once('exit', () => resolve(false)));
  if (!(await Promise.race([until(dir, () => existsSync(pidFile), 20_000), exited]))) {
    await undo();
    throw new Error('nbdfuse did not start serving the disk within 20 s');
  }
  return { file: path.join(mountpoint, 'disk'), mountpoint, undo };
}

/** nbdfuse → losetup → (mkfs.ext4) → mount at `mnt`. Returns the undo, which unmounts in reverse order. */
async function mountDisk(dir, uri, mnt, { format, readOnly }) {
  const fuse = await fuseDisk(dir, uri);
  const loop = (await exec('losetup', ['--find', '--show', ...(readOnly ? ['--read-only'] : []), fuse.file], { capture: true, timeoutMs: 20_000 })).stdout.trim();
  console.log(loop);
  const detach = cleanups.add('losetup', () => exec('losetup', ['-d', loop], { quiet: true, cleanup: true, timeoutMs: 20_000 }));
  // nodiscard: no UNMAP of the whole LUN first, which on a big real LUN could outlast the step's bound.
  if (format) await exec('mkfs.ext4', ['-q', '-E', 'nodiscard', '-L', 'iscsi-demo', loop]);
  await exec('mount', [...(readOnly ? ['-o', 'ro'] : []), loop, mnt], { timeoutMs: 20_000 });
  const unmount = cleanups.add('umount', () => exec('umount', [mnt], { quiet: true, cleanup: true }));
  return async () => {
    // Shown: unmounting is where the filesystem's last writes go down to the LUN.
    console.log(`$ umount ${mnt} && losetup -d ${loop} && fusermount3 -u ${fuse.mountpoint}`);
    await unmount();
    await detach();
    await fuse.undo();
  };
}

/** The file's round trip: ext4 mounted, the file written, unmounted; mounted again (fresh) and read. */
async function roundTripMounted(dir, uri, data) {
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  let unmount = await mountDisk(dir, uri, mnt, { format: true, readOnly: false });
  // Asynchronous I/O only: the built-in target answers in this very process, so it must never be blocked.
  await writeFile(path.join(mnt, 'hello.bin'), data);
  console.log(`wrote ${path.join(mnt, 'hello.bin')}: ${data.length >> 20} MiB, sha256 ${sha256(data)}`);
  await unmount();
  // A new FUSE file and loop device: what is read now comes from the LUN through the HBA, not from a cache.
  unmount = await mountDisk(dir, uri, mnt, { format: false, readOnly: true });
  const back = await readFile(path.join(mnt, 'hello.bin'));
  console.log(`read  ${path.join(mnt, 'hello.bin')}: ${back.length >> 20} MiB, sha256 ${sha256(back)}`);
  await unmount();
  return back;
}

/**
 * Without FUSE or loop devices: ext4 made in a local image the LUN's size, the file written into it with debugfs, the
 * image copied onto the LUN (nbdcopy, through the HBA); then the LUN copied into a new image and the file read there.
 */
async function roundTripCopy(dir, uri, data, sizeBytes) {
  const local = path.join(dir, 'hello.bin');
  await writeFile(local, data);
  const image = path.join(dir, 'ext4.img');
  await writeFile(image, '');
  await truncate(image, sizeBytes); // sparse
  await exec('mkfs.ext4', ['-q', '-F', '-L', 'iscsi-demo', image]);
  await exec('debugfs', ['-w', '-R', `write ${local} hello.bin`, image]);
  console.log(`wrote hello.bin: ${data.length >> 20} MiB, sha256 ${sha256(data)}`);
  await exec('nbdcopy', ['--flush', image, uri], { shown: `nbdcopy --flush ${image} '${uri}'   # the filesystem onto the LUN` });
  const copy = path.join(dir, 'lun.img');
  await exec('nbdcopy', ['--no-extents', uri, copy], { shown: `nbdcopy --no-extents '${uri}' ${copy}   # and back` });
  const out = path.join(dir, 'hello.back');
  await exec('debugfs', ['-R', `dump hello.bin ${out}`, copy]);
  const back = await readFile(out);
  console.log(`read  hello.bin: ${back.length >> 20} MiB, sha256 ${sha256(back)}`);
  return back;
}

/**
 * iscsid with `--hba simulator` on a socket, state and secrets folder of its own (a temporary folder), in its own
 * process group. Resolves once it listens; its undo stops it (SIGTERM: it logs out and stops the simulator it started).
 */
async function startIscsid(root, dir) {
  const socket = path.join(dir, 'iscsid.sock');
  const args = ['--socket', socket, '--state-dir', path.join(dir, 'state'), '--secrets-dir', path.join(dir, 'secrets'), '--hba', 'simulator'];
  console.log(`$ iscsid ${args.join(' ')} &`);
  const child = spawn(process.execPath, [path.join(root, 'core', 'bin', 'iscsid.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const simPid = () => {
    const line = output.split('\n').find((l) => l.includes('started the HBA simulator'));
    return line === undefined ? undefined : JSON.parse(line).pid;
  };
  let outlived = false;
  const stop = cleanups.add('iscsid', async () => {
    const sim = simPid();
    child.kill('SIGTERM');
    await stopped(child, 30_000);
    // A normal shutdown stops the simulator it started; a daemon that had to be killed leaves it: stopped here.
    if (sim !== undefined && alive(sim)) {
      outlived = true;
      process.kill(sim, 'SIGKILL');
    }
  });
  const listening = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    const check = () => output.includes('iscsid listening') && (clearTimeout(timer), resolve(true));
    child.stdout.on('data', check);
    child.once('exit', () => (clearTimeout(timer), resolve(false)));
  });
  if (!listening) {
    await stop();
    throw new Error(`iscsid did not start:\n${output.trim()}`);
  }
  const pid = simPid();
  console.log(`iscsid listening on ${socket}${pid === undefined ? '' : `; it started the HBA simulator (pid ${pid})`}`);
  return { socket, stop, simPid, output: () => output, simOutlived: () => outlived };
}

/** ext4 on the LUN, a file written, read back from the LUN (not a cache) and compared by its checksum. */
async function filesystemRoundTrip(mode, dir, uri, sizeBytes, step) {
  // In the copy mode the whole LUN is copied back: fine for the built-in target's 64 MiB, not for a big real LUN.
  if (mode === 'copy' && sizeBytes > COPY_LIMIT) {
    console.log(`skipped: without FUSE and loop devices the LUN is copied back whole, and this one is ${Math.round(sizeBytes / 2 ** 20)} MiB`);
    return;
  }
  step(TITLES[mode]);
  const data = randomBytes(FILE_BYTES);
  const back = mode === 'mount' ? await roundTripMounted(dir, uri, data) : await roundTripCopy(dir, uri, data, sizeBytes);
  if (!back.equals(data)) throw new Error('the file read back differs from the file written');
  console.log('checksums match: the file went to the LUN through the HBA and came back');
}

const TITLES = {
  mount: 'A filesystem on the disk: nbdfuse + losetup + mkfs.ext4 + mount',
  copy: 'A filesystem on the disk: ext4 built in a local image, copied onto the LUN and back with nbdcopy (no FUSE or loop device here to mount it); the file read with debugfs',
};

/**
 * The part itself: log in through iscsid, show the attached disk, the filesystem round trip, the session's counters,
 * logout and the export gone, iscsid stopped. `mode` comes from diskPlan.
 */
export async function diskDemo({ root, portal, targetName, lun, mode, step }) {
  const iscsiadmBin = path.join(root, 'cli', 'bin', 'run.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'iscsi-demo-'));
  cleanups.add('temporary folder', () => rm(dir, { recursive: true, force: true }));
  try {
    const daemon = await startIscsid(root, dir);
    // Every iscsiadm below talks to this iscsid ($ISCSID_SOCKET), not to a system one.
    const env = { ...process.env, ISCSID_SOCKET: daemon.socket };
    console.log(`$ export ISCSID_SOCKET=${daemon.socket}`);
    const iscsiadm = (args, options = {}) => exec(process.execPath, [iscsiadmBin, ...args], { env, shown: `iscsiadm ${args.join(' ')}`, ...options });
    if (process.env.ISCSI_INITIATOR_NAME) await iscsiadm(['initiator', '--name', process.env.ISCSI_INITIATOR_NAME]);
    await iscsiadm(['-m', 'discovery', '-t', 'st', '-p', portal]);
    await iscsiadm(['-m', 'node', '-T', targetName, '-p', portal, '--login']);
    const p3 = await iscsiadm(['session', '-P', '3'], { capture: true });
    // The LUN part of the view (the negotiated parameters were shown above).
    const shown = p3.stdout.split('\n');
    const from = shown.findIndex((l) => l.includes('Attached SCSI devices'));
    console.log((from < 0 ? shown : ['\t\t… (the session, its timeouts and negotiated parameters)', ...shown.slice(from)]).join('\n').trimEnd());
    const sessions = JSON.parse((await iscsiadm(['session', '-P', '3', '--json'], { capture: true, quiet: true })).stdout);
    const info = sessions.flatMap((s) => s.luns).find((l) => l.lun === lun);
    const disk = info?.disk;
    if (!disk) throw new Error(`LUN ${lun} has no attached disk; iscsid said:\n${daemon.output().trim()}`);
    const socket = new URL(disk).searchParams.get('socket');

    await filesystemRoundTrip(mode, dir, disk, Number(info.sizeBytes), step);

    step("The session's counters: the disk's I/O went through it");
    await iscsiadm(['session', 'watch', '--once']);

    step('Log out: the disk goes first, then the session');
    await iscsiadm(['-m', 'node', '-T', targetName, '-p', portal, '--logout']);
    await access(socket).then(
      () => {
        throw new Error(`the export ${socket} is still there after logout`);
      },
      () => console.log(`the export ${socket} is gone`),
    );
    await iscsiadm(['session'], { allowFail: true });
    const sim = daemon.simPid();
    console.log('$ kill -TERM <iscsid>   # a normal shutdown stops the simulator it started');
    await daemon.stop();
    if (daemon.simOutlived()) throw new Error(`the HBA simulator (pid ${sim}) outlived iscsid's normal shutdown (killed now)`);
    if (sim !== undefined) console.log(`iscsid stopped; the HBA simulator (pid ${sim}) stopped with it`);
  } finally {
    await cleanups.run();
  }
}
