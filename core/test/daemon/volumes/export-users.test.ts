// Issue 12: "A busy volume refuses the logout with a clear error naming it". Under the simulator, who uses a LUN's NBD
// export is read from the kernel's text (proc(5) mountinfo and cmdline, loop(4)'s sysfs backing_file): fixtures here,
// the real files in test/integration/iscsid-hba-volumes.test.ts.
import { describe, expect, it } from 'vitest';
import { exportUsers, inUse, type SystemSnapshot } from '../../../src/daemon/volumes/export-users.js';
import { namesSocket, parseBackingFile, parseCmdline, parseMountInfo } from '../../../src/daemon/volumes/proc-text.js';

const SOCKET = '/var/db/iscsid/nbd/t1-lun1.sock';

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,discard',
  // nbdfuse, mounted by `nbdfuse /tmp/fuse-Ab12/disk nbd+unix:///?socket=…`: the folder is the mount point.
  '612 27 0:77 / /tmp/fuse-Ab12 rw,nosuid,nodev,relatime shared:330 - fuse.nbdfuse nbdfuse rw,user_id=0,group_id=0',
  // ext4 from /dev/loop3 (7:3) at a mount point with a space (the kernel writes it \\040).
  '640 27 7:3 / /mnt/my\\040disk rw,relatime shared:340 - ext4 /dev/loop3 rw',
  // A second file system from a partition of the same loop device (259:0).
  '641 27 259:0 / /mnt/part1 rw,relatime shared:341 - ext4 /dev/loop3p1 rw',
  // Another loop device's mount, over a file elsewhere: none of the export's business.
  '650 27 7:4 / /mnt/other rw,relatime shared:350 - ext4 /dev/loop4 rw',
  // Optional fields of any number before the lone "-".
  '660 27 0:90 / /tmp/fuse-Zz99 rw,relatime shared:360 master:2 - fuse nbdfuse rw,user_id=0,group_id=0',
].join('\n');

function system(overrides: Partial<SystemSnapshot> = {}): SystemSnapshot {
  return {
    mounts: parseMountInfo(MOUNTINFO),
    processes: [
      { pid: 100, name: 'iscsid', argv: ['node', '/usr/lib/iscsid.js', '--hba', 'simulator'], cwd: '/' },
      { pid: 200, name: 'nbdfuse', argv: ['nbdfuse', '-P', '/tmp/fuse-Ab12.pid', '/tmp/fuse-Ab12/disk', `nbd+unix:///?socket=${SOCKET}`], cwd: '/root' },
      { pid: 300, name: 'nbdfuse', argv: ['nbdfuse', '/tmp/fuse-Zz99', 'nbd+unix:///?socket=/var/db/iscsid/nbd/t1-lun10.sock'], cwd: '/' },
      { pid: 400, name: 'fio', argv: ['fio', '--name=x', '--ioengine=nbd', `--uri=nbd+unix:///?socket=${SOCKET}`], cwd: '/' },
    ],
    loops: [
      { device: '/dev/loop3', backingFile: '/tmp/fuse-Ab12/disk', nodes: [{ device: '/dev/loop3', majorMinor: '7:3' }, { device: '/dev/loop3p1', majorMinor: '259:0' }] },
      { device: '/dev/loop4', backingFile: '/srv/images/other.img', nodes: [{ device: '/dev/loop4', majorMinor: '7:4' }] },
    ],
    ...overrides,
  };
}

describe('proc(5) and loop(4) text', () => {
  it('mountinfo: device, mount point (octal escapes undone), type and source; optional fields skipped; junk lines left out', () => {
    const mounts = parseMountInfo(`${MOUNTINFO}\nnot a mountinfo line\n\n`);
    expect(mounts).toHaveLength(7);
    expect(mounts[3]).toEqual({ device: '7:3', mountPoint: '/mnt/my disk', fsType: 'ext4', source: '/dev/loop3' });
    expect(mounts[2]).toEqual({ device: '0:77', mountPoint: '/tmp/fuse-Ab12', fsType: 'fuse.nbdfuse', source: 'nbdfuse' });
    expect(mounts[6]).toEqual({ device: '0:90', mountPoint: '/tmp/fuse-Zz99', fsType: 'fuse', source: 'nbdfuse' });
  });

  it('cmdline: NUL-separated arguments, the trailing NUL dropped; a kernel thread has none', () => {
    expect(parseCmdline('fio\0--name=x\0--uri=nbd+unix:///?socket=/s.sock\0')).toEqual(['fio', '--name=x', '--uri=nbd+unix:///?socket=/s.sock']);
    expect(parseCmdline('')).toEqual([]);
    expect(parseCmdline('a\0\0b\0')).toEqual(['a', '', 'b']); // an empty argument stays one
  });

  it('backing_file: the path without its newline; " (deleted)" is still the same file; empty means not attached', () => {
    expect(parseBackingFile('/tmp/fuse-Ab12/disk\n')).toBe('/tmp/fuse-Ab12/disk');
    expect(parseBackingFile('/tmp/fuse-Ab12/disk (deleted)\n')).toBe('/tmp/fuse-Ab12/disk');
    expect(parseBackingFile('\n')).toBeUndefined();
  });

  it('an argument names the socket as a path, in an NBD URI (percent-encoded or not), never as a longer name', () => {
    expect(namesSocket(SOCKET, SOCKET)).toBe(true);
    expect(namesSocket(`nbd+unix:///?socket=${SOCKET}`, SOCKET)).toBe(true);
    expect(namesSocket(`--uri=nbd+unix:///?socket=${SOCKET}&tls=off`, SOCKET)).toBe(true);
    expect(namesSocket(`nbd+unix:///?socket=${encodeURIComponent(SOCKET)}`, SOCKET)).toBe(true);
    expect(namesSocket(`nbd:unix:${SOCKET}`, SOCKET)).toBe(true); // qemu's form
    expect(namesSocket('nbd+unix:///?socket=/var/db/iscsid/nbd/t1-lun10.sock', SOCKET)).toBe(false);
    expect(namesSocket(`${SOCKET}.bak`, SOCKET)).toBe(false);
    expect(namesSocket(`/other${SOCKET}`, SOCKET)).toBe(false);
  });
});

describe('exportUsers: from the export\'s socket to its volumes', () => {
  it('clients naming the socket → their nbdfuse mount → loop devices over its file → the mounts of those devices', () => {
    const users = exportUsers(SOCKET, system(), 100);
    expect(users.clients).toEqual([{ pid: 200, name: 'nbdfuse' }, { pid: 400, name: 'fio' }]);
    expect(users.fuseMounts).toEqual(['/tmp/fuse-Ab12']);
    expect(users.loops).toEqual(['/dev/loop3']);
    expect(users.volumes).toEqual([
      { mountPoint: '/mnt/my disk', device: '/dev/loop3' },
      { mountPoint: '/mnt/part1', device: '/dev/loop3p1' },
    ]);
    expect(inUse(users)).toBe(true);
  });

  it('another export (t1-lun10) and another loop device are not this one\'s; iscsid itself is never a client', () => {
    const other = exportUsers('/var/db/iscsid/nbd/t1-lun10.sock', system(), 100);
    expect(other.clients).toEqual([{ pid: 300, name: 'nbdfuse' }]);
    expect(other.fuseMounts).toEqual(['/tmp/fuse-Zz99']); // nbdfuse's "naked" MOUNTPOINT form
    expect(other.loops).toEqual([]);
    expect(other.volumes).toEqual([]);
    const self = exportUsers(SOCKET, system({ processes: [{ pid: 100, name: 'node', argv: ['node', `--uri=${SOCKET}`], cwd: '/' }] }), 100);
    expect(inUse(self)).toBe(false);
  });

  it('a relative mount point is resolved against the client\'s working folder', () => {
    const users = exportUsers(SOCKET, system({ processes: [{ pid: 200, name: 'nbdfuse', argv: ['nbdfuse', 'fuse-Ab12/disk', `nbd+unix:///?socket=${SOCKET}`], cwd: '/tmp' }] }), 1);
    expect(users.fuseMounts).toEqual(['/tmp/fuse-Ab12']);
    expect(users.volumes.map((v) => v.mountPoint)).toEqual(['/mnt/my disk', '/mnt/part1']);
  });

  it('a mount found by its source when the device numbers say nothing (a file system with an anonymous device, like btrfs)', () => {
    const mounts = parseMountInfo([MOUNTINFO.split('\n')[2], '700 27 0:95 / /mnt/btrfs rw - btrfs /dev/loop3 rw'].join('\n'));
    expect(exportUsers(SOCKET, system({ mounts }), 1).volumes).toEqual([{ mountPoint: '/mnt/btrfs', device: '/dev/loop3' }]);
  });

  it('nobody: not in use', () => {
    expect(inUse(exportUsers(SOCKET, system({ processes: [] }), 1))).toBe(false);
  });
});
