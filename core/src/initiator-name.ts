/**
 * This host's initiator name (RFC 7143 §4.2.7): one generator, and one stored name. iscsid stores the name in its
 * node database on first start (or `initiator.set`); a direct `lun` command uses that stored name when it can learn
 * it, so the daemon and a direct command log in from one host with one IQN.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isValidIscsiName, NAMING_AUTHORITY } from './iscsi-name.js';
import { NODE_DB_FILE_NAME } from './platform-paths.js';

/**
 * The naming authority, this host's name, and a suffix from the machine's identity (so the same machine generates the
 * same name, and two Macs restored from one backup, or two hosts with one name, do not log in as each other). With no
 * machine identity to read, the suffix is random — the stored name is what keeps it.
 */
export function generateInitiatorName(options: { host?: string; machineId?: string | undefined } = {}): string {
  const host = (options.host ?? hostname()).toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 63) || 'host';
  const id = 'machineId' in options ? options.machineId : machineId();
  const suffix = id === undefined ? randomBytes(6).toString('hex') : createHash('sha256').update(`iscsi-initiator:${id}`).digest('hex').slice(0, 12);
  return `${NAMING_AUTHORITY}:${host}-${suffix}`;
}

/** Linux: systemd's /etc/machine-id (or D-Bus's copy); macOS: the hardware's IOPlatformUUID. Undefined if neither. */
export function machineId(): string | undefined {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32}$/i.test(id)) return id.toLowerCase();
    } catch {
      // not there: try the next
    }
  }
  if (process.platform === 'darwin') {
    try {
      const out = execFileSync('/usr/sbin/ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { encoding: 'utf8', timeout: 2_000 });
      return /"IOPlatformUUID"\s*=\s*"([0-9A-F-]{36})"/i.exec(out)?.[1]?.toLowerCase();
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The initiator name iscsid has stored in `stateDir`, read without the daemon (it may not run), or undefined when the
 * file is missing, unreadable (it is root's, 0600) or holds no valid name.
 */
export function storedInitiatorName(stateDir: string): string | undefined {
  try {
    const store = JSON.parse(readFileSync(join(stateDir, `${NODE_DB_FILE_NAME}.json`), 'utf8')) as { initiator?: { name?: unknown } };
    const name = store.initiator?.name;
    return typeof name === 'string' && isValidIscsiName(name) ? name : undefined;
  } catch {
    return undefined;
  }
}
