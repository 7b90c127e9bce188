// One place that loads the addon; everything else imports this module. Without a built addon (not compiled yet, or a
// platform without it) `available` is false and every lookup returns undefined — callers treat the peer as unknown.
import { createRequire } from 'node:module';
import path from 'node:path';
import { isSea } from 'node:sea';

/** The addon file: beside the binary in a single executable (installer/sea: no node_modules, built-ins-only require). */
function loadAddon() {
  if (isSea()) return createRequire(process.execPath)(path.join(path.dirname(process.execPath), 'iscsi-native.node'));
  return createRequire(import.meta.url)('./build/Release/native.node');
}

let addon;
try {
  addon = loadAddon();
} catch {
  addon = undefined;
}

export const available = addon !== undefined;

/**
 * uid/gid (and pid where the OS gives it) of the peer of a connected Unix socket, by its file descriptor. On a
 * server's socket: the client's; on a client's socket: the server's (as of its listen()).
 */
export function peerCredentials(fd) {
  if (addon === undefined || !Number.isInteger(fd) || fd < 0) return undefined;
  return addon.peerCredentials(fd) ?? undefined;
}

/**
 * flock(2): true when the lock is taken, false when another open file holds it and `nonBlocking` is set. Throws when
 * the addon is missing (a lock that silently does nothing would be worse) or flock fails (`code`: the errno name).
 */
export function flock(fd, exclusive, nonBlocking) {
  if (addon === undefined) throw Object.assign(new Error('flock: the native addon is not built (npm run build)'), { code: 'ENOSYS' });
  if (!Number.isInteger(fd) || fd < 0) throw Object.assign(new TypeError('flock: fd must be a non-negative integer'), { code: 'EBADF' });
  return addon.flock(fd, exclusive === true, nonBlocking === true);
}

/**
 * Opens the HBA: the simulator's Unix socket when `socketPath` is given (any POSIX system), else the dext's user
 * client (macOS). Connects, handshakes (ABI version), maps both regions and reads the HBA's limits; rejects with an
 * Error whose `code` is the header's iscsi_hba_error name (ISCSI_HBA_E_VERSION_MISMATCH, …; `status` its number,
 * `peerAbiVersion` the driver's version) or an errno name (ENOENT, ECONNREFUSED, ETIMEDOUT, …).
 */
export async function openHba(options) {
  if (addon === undefined) throw Object.assign(new Error('openHba: the native addon is not built (npm run build)'), { code: 'ENOSYS' });
  const { socketPath, abiVersion, callTimeoutMs } = options ?? {};
  if (!Number.isInteger(callTimeoutMs) || callTimeoutMs <= 0) throw Object.assign(new TypeError('openHba: callTimeoutMs must be a positive integer'), { code: 'ERR_INVALID_ARG_VALUE' });
  if (socketPath !== undefined && (typeof socketPath !== 'string' || socketPath === '')) throw Object.assign(new TypeError('openHba: socketPath must be a non-empty string'), { code: 'ERR_INVALID_ARG_VALUE' });
  const events = new HbaEvents();
  const native = await addon.hbaOpen({ socketPath, abiVersion, callTimeoutMs }, (kinds, cmdProducer, error) => events.deliver(kinds, cmdProducer, error));
  return new Hba(native, events);
}

/** Notices from the backend's thread, one call per batch; bits that come before a listener wait for the first one. */
class HbaEvents {
  noticeListeners = new Set();
  disconnectListeners = new Set();
  pendingKinds = 0;
  pendingProducer = 0;
  lost = undefined;
  closed = false;

  deliver(kinds, cmdProducer, error) {
    if (this.closed) return;
    if (error !== undefined && error !== null) {
      this.lost = error;
      for (const listener of this.disconnectListeners) listener(error);
      return;
    }
    if (this.noticeListeners.size === 0) {
      this.pendingKinds |= kinds;
      this.pendingProducer = cmdProducer;
      return;
    }
    for (const listener of this.noticeListeners) listener({ kinds, cmdProducer });
  }
}

/** An open HBA connection (see index.d.ts). */
class Hba {
  #native;
  #events;
  constructor(native, events) {
    this.#native = native;
    this.#events = events;
    this.info = Object.freeze(native.info);
    this.control = native.control;
    this.pool = native.pool;
  }

  get closed() {
    return this.#events.closed;
  }

  // async: a bad argument rejects like every other failure instead of throwing.
  async createTarget(key) {
    return this.#native.createTarget(key);
  }

  async destroyTarget(targetId) {
    return this.#native.destroyTarget(targetId);
  }

  doorbell() {
    if (!this.#events.closed) this.#native.doorbell();
  }

  onNotice(listener) {
    const events = this.#events;
    events.noticeListeners.add(listener);
    if (events.pendingKinds !== 0) {
      const notice = { kinds: events.pendingKinds, cmdProducer: events.pendingProducer };
      events.pendingKinds = 0;
      queueMicrotask(() => {
        if (!events.closed && events.noticeListeners.has(listener)) listener(notice);
      });
    }
    return () => events.noticeListeners.delete(listener);
  }

  onDisconnect(listener) {
    const events = this.#events;
    events.disconnectListeners.add(listener);
    if (events.lost !== undefined) {
      const lost = events.lost;
      queueMicrotask(() => {
        if (!events.closed && events.disconnectListeners.has(listener)) listener(lost);
      });
    }
    return () => events.disconnectListeners.delete(listener);
  }

  close() {
    if (this.#events.closed) return;
    this.#events.closed = true;
    this.#native.close();
  }
}

/**
 * Watches the Mac's disks (DiskArbitration), sleep and wake (the root power domain) and network path (nw_path_monitor),
 * one listener for all (see index.d.ts). Throws ENOSYS off macOS and when the addon is not built.
 */
export function watchHost(listener) {
  if (addon === undefined) throw Object.assign(new Error('watchHost: the native addon is not built (npm run build)'), { code: 'ENOSYS' });
  if (typeof listener !== 'function') throw Object.assign(new TypeError('watchHost: listener must be a function'), { code: 'ERR_INVALID_ARG_TYPE' });
  const pending = new Map();
  let nextRequest = 1;
  let closed = false;
  const native = addon.hostWatch((event) => {
    if (closed) return;
    if (event.kind === 'disk-op') {
      const settle = pending.get(event.requestId);
      pending.delete(event.requestId);
      settle?.(event.ok ? { ok: true } : { ok: false, errno: event.errno, ...(event.dissent ? { dissent: event.dissent } : {}) });
      return;
    }
    listener(event);
  });
  const diskOp = (bsdName, eject, force) => {
    if (closed) return Promise.resolve({ ok: false, errno: 'ERR_HOST_CLOSED' });
    if (typeof bsdName !== 'string' || !/^disk\d+(s\d+)?$/.test(bsdName)) return Promise.reject(Object.assign(new TypeError(`not a BSD disk name: ${String(bsdName)}`), { code: 'ERR_INVALID_ARG_VALUE' }));
    const requestId = nextRequest++;
    return new Promise((resolve) => {
      pending.set(requestId, resolve);
      native.diskOp(bsdName, eject, force, requestId);
    });
  };
  return {
    allowPowerChange: (notificationId) => {
      if (!closed) native.allowPowerChange(notificationId);
    },
    unmountWhole: (bsdName, options) => diskOp(bsdName, false, options?.force === true),
    eject: (bsdName) => diskOp(bsdName, true, false),
    close: () => {
      if (closed) return;
      closed = true;
      native.close();
      for (const settle of pending.values()) settle({ ok: false, errno: 'ERR_HOST_CLOSED' });
      pending.clear();
    },
  };
}
