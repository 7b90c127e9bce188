// The Linux kernel's text about mounts, processes and loop devices (proc(5), loop(4)), parsed without I/O: the volume
// probe reads the files, these functions read the text, and tests feed them fixtures.

/** One line of /proc/<pid>/mountinfo (proc(5), "/proc/pid/mountinfo"). */
export interface MountEntry {
  /** `major:minor` of the mounted file system's device (st_dev): a block device's for ext4 on /dev/loop3. */
  readonly device: string;
  readonly mountPoint: string;
  /** `ext4`, `fuse.nbdfuse`, `fuse`, … */
  readonly fsType: string;
  /** The mount source: `/dev/loop3`, `nbdfuse`, … */
  readonly source: string;
}

/**
 * mountinfo: `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue` — ID, parent ID,
 * major:minor, root, mount point, options, optional fields up to a lone `-`, then type, source, super options. Paths
 * escape space, tab, newline and backslash as octal (`\040`). A line that does not fit is skipped.
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash < 0 || dash + 2 >= fields.length) continue;
    if (!/^\d+:\d+$/.test(fields[2]!)) continue;
    entries.push({ device: fields[2]!, mountPoint: unescapeOctal(fields[4]!), fsType: fields[dash + 1]!, source: unescapeOctal(fields[dash + 2]!) });
  }
  return entries;
}

/** The kernel's octal escapes in mountinfo paths (`\040` for a space, `\134` for a backslash). */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** /proc/<pid>/cmdline: the arguments, each ended by NUL (a process may rewrite it; an empty one is a kernel thread). */
export function parseCmdline(text: string): string[] {
  const args = text.split('\0');
  if (args.at(-1) === '') args.pop();
  return args;
}

/**
 * /sys/block/loopN/loop/backing_file: the file's path and a newline, with ` (deleted)` appended by d_path when the
 * file was unlinked (still the same file for the loop device). Undefined for an empty file (not attached).
 */
export function parseBackingFile(text: string): string | undefined {
  const file = text.replace(/\n$/, '').replace(/ \(deleted\)$/, '');
  return file === '' ? undefined : file;
}

/**
 * Whether a command-line argument names the socket: the path itself, or an NBD URI holding it (`--unix SOCKET`,
 * `nbd+unix:///?socket=SOCKET`, percent-encoded or not). The path must end there: `t1-lun1.sock` is not named by
 * `t1-lun1.sock2`.
 */
export function namesSocket(arg: string, socket: string): boolean {
  for (const text of arg.includes('%') ? [arg, safeDecode(arg)] : [arg]) {
    for (let at = text.indexOf(socket); at >= 0; at = text.indexOf(socket, at + 1)) {
      const before = at === 0 ? '' : text[at - 1]!;
      const after = text[at + socket.length] ?? '';
      if ((before === '' || before === '=' || before === ':') && (after === '' || after === '&' || after === '#')) return true;
    }
  }
  return false;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
