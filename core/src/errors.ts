/**
 * One error hierarchy for the whole engine. Every error carries a stable string `code` (what the RPC carries and
 * what the CLI maps to a message and exit code) plus the protocol facts that explain it.
 */

export type IscsiErrorCode =
  // Framing and PDU decoding (RFC 7143 §11): the connection that produced them is ended.
  | 'ISCSI_PDU_TRUNCATED'
  | 'ISCSI_PDU_UNKNOWN_OPCODE'
  | 'ISCSI_PDU_BAD_FIELD'
  | 'ISCSI_PDU_SEGMENT_TOO_LONG'
  | 'ISCSI_PDU_HEADER_DIGEST'
  | 'ISCSI_PDU_DATA_DIGEST'
  | 'ISCSI_PDU_UNEXPECTED'
  // Text keys and negotiation (RFC 7143 §6, §13)
  | 'ISCSI_TEXT_MALFORMED'
  | 'ISCSI_TEXT_TOO_LONG'
  | 'ISCSI_NEGOTIATION_DUPLICATE_KEY'
  | 'ISCSI_NEGOTIATION_MISSING_KEY'
  | 'ISCSI_NEGOTIATION_BAD_VALUE'
  | 'ISCSI_NEGOTIATION_REJECTED'
  | 'ISCSI_NEGOTIATION_UNEXPECTED_KEY'
  // Login (RFC 7143 §6, §11.13.5)
  | 'ISCSI_LOGIN_PROTOCOL'
  | 'ISCSI_LOGIN_REDIRECT_LOOP'
  | 'ISCSI_LOGIN_INITIATOR_ERROR'
  | 'ISCSI_LOGIN_AUTH_FAILED'
  | 'ISCSI_LOGIN_AUTHORIZATION_FAILED'
  | 'ISCSI_LOGIN_TARGET_NOT_FOUND'
  | 'ISCSI_LOGIN_TARGET_REMOVED'
  | 'ISCSI_LOGIN_UNSUPPORTED_VERSION'
  | 'ISCSI_LOGIN_TOO_MANY_CONNECTIONS'
  | 'ISCSI_LOGIN_MISSING_PARAMETER'
  | 'ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION'
  | 'ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED'
  | 'ISCSI_LOGIN_SESSION_DOES_NOT_EXIST'
  | 'ISCSI_LOGIN_INVALID_DURING_LOGIN'
  | 'ISCSI_LOGIN_TARGET_ERROR'
  | 'ISCSI_LOGIN_SERVICE_UNAVAILABLE'
  | 'ISCSI_LOGIN_OUT_OF_RESOURCES'
  // CHAP (RFC 1994, RFC 7143 §12.1.3)
  | 'ISCSI_CHAP_UNSUPPORTED_ALGORITHM'
  | 'ISCSI_CHAP_BAD_VALUE'
  | 'ISCSI_CHAP_TARGET_AUTH_FAILED'
  | 'ISCSI_CHAP_REFLECTED_CHALLENGE'
  | 'ISCSI_CHAP_SAME_SECRET'
  | 'ISCSI_CHAP_MISSING_CREDENTIALS'
  // Transport and session
  | 'ISCSI_CONNECTION_REFUSED'
  | 'ISCSI_CONNECTION_CLOSED'
  | 'ISCSI_CONNECTION_FAILED'
  | 'ISCSI_HOST_NOT_FOUND'
  /** Connecting (TCP) took too long; every other timeout has its own code below. */
  | 'ISCSI_TIMEOUT'
  | 'ISCSI_LOGIN_TIMEOUT'
  | 'ISCSI_LOGOUT_TIMEOUT'
  | 'ISCSI_NOP_TIMEOUT'
  | 'ISCSI_COMMAND_TIMEOUT'
  | 'ISCSI_TMF_TIMEOUT'
  | 'ISCSI_REPLACEMENT_TIMEOUT'
  | 'ISCSI_RECOVERY_NO_PROGRESS'
  | 'ISCSI_SESSION_CLOSED'
  | 'ISCSI_LOGOUT_FAILED'
  | 'ISCSI_REJECT'
  | 'ISCSI_TASK_ABORTED'
  | 'ISCSI_TMF_FAILED'
  | 'ISCSI_QUEUE_FULL'
  // Daemon
  | 'ISCSI_NOT_PERMITTED'
  | 'ISCSI_DAEMON_NOT_RUNNING'
  /** The socket's server is not root (nor the client's own user): a client refuses to talk to it. */
  | 'ISCSI_DAEMON_NOT_TRUSTED'
  /** At start: another iscsid holds the state folder's lock, or answers on the socket. */
  | 'ISCSI_DAEMON_ALREADY_RUNNING'
  | 'ISCSI_SESSION_EXISTS'
  | 'ISCSI_SESSION_NOT_FOUND'
  | 'ISCSI_NODE_NOT_FOUND'
  | 'ISCSI_SECRET_NOT_FOUND'
  | 'ISCSI_INTERNAL'
  /** The HBA (dext or simulator) wrote something the ring protocol forbids: a bad index or descriptor. */
  | 'ISCSI_HBA_PROTOCOL'
  /** A logout refused: a volume on the session's LUNs is mounted and would not unmount (in use); `force` ejects it. */
  | 'ISCSI_VOLUME_BUSY'
  // The daemon's files (node database, secret store, socket, lock)
  /** No space left (ENOSPC) or over quota (EDQUOT). */
  | 'ISCSI_STORAGE_FULL'
  /** Any other I/O failure, or a file that cannot be read as what it should be. */
  | 'ISCSI_STORAGE_FAILED'
  /** Refused: a symlink, a foreign owner, or a mode that lets others write (or read secrets). */
  | 'ISCSI_STORAGE_UNSAFE'
  // SCSI layer
  | 'ISCSI_SCSI_CHECK_CONDITION'
  | 'ISCSI_SCSI_STATUS'
  | 'ISCSI_SCSI_RESPONSE'
  | 'ISCSI_SCSI_BAD_DATA'
  // Our own inputs
  | 'ISCSI_BAD_URL'
  | 'ISCSI_BAD_ARGUMENT';

export interface IscsiErrorOptions {
  cause?: unknown;
  /** One line a person can act on, shown by the CLI after the message. */
  hint?: string;
}

/** Every timeout code: the CLI maps them all to one exit code (8), the reconnect policy counts them. */
export const TIMEOUT_CODES: ReadonlySet<IscsiErrorCode> = new Set<IscsiErrorCode>([
  'ISCSI_TIMEOUT',
  'ISCSI_LOGIN_TIMEOUT',
  'ISCSI_LOGOUT_TIMEOUT',
  'ISCSI_NOP_TIMEOUT',
  'ISCSI_COMMAND_TIMEOUT',
  'ISCSI_TMF_TIMEOUT',
  'ISCSI_REPLACEMENT_TIMEOUT',
  'ISCSI_RECOVERY_NO_PROGRESS',
]);

export function isTimeoutCode(code: IscsiErrorCode | undefined): boolean {
  return code !== undefined && TIMEOUT_CODES.has(code);
}

/**
 * A process-wide brand: two copies of this module (a bundle and a dependency, two versions) share it, so
 * `instanceof IscsiError` holds for an error made by either copy (undici brands its errors the same way).
 */
const BRAND = Symbol.for('iscsi-initiator.IscsiError');

export class IscsiError extends Error {
  readonly code: IscsiErrorCode;
  readonly hint: string | undefined;

  constructor(code: IscsiErrorCode, message: string, options: IscsiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** The brand, not the prototype chain, decides for the base class; a subclass also needs its own name to match. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
    if (this === IscsiError) return true;
    // Same copy: the prototype chain answers. Another copy: the class name along the chain does.
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    for (let p = Object.getPrototypeOf(value); p !== null; p = Object.getPrototypeOf(p)) {
      if (p.constructor?.name === this.name) return true;
    }
    return false;
  }

  get [BRAND](): true {
    return true;
  }

  /** A plain object with the code and facts, safe to put on the wire (the RPC) — never contains secrets. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** A malformed or unexpected PDU from the peer. Always fatal to the connection that carried it. */
export class ProtocolError extends IscsiError {}

/** Bad key=value text or a negotiation that cannot conclude (RFC 7143 §6.2, §13). */
export class NegotiationError extends IscsiError {
  readonly key: string | undefined;
  constructor(code: IscsiErrorCode, message: string, key?: string, options: IscsiErrorOptions = {}) {
    super(code, message, options);
    this.key = key;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...(this.key ? { key: this.key } : {}) };
  }
}

/** A Login Response with a non-zero status class, or a login that broke the rules (RFC 7143 §11.13.5). */
export class LoginError extends IscsiError {
  readonly statusClass: number | undefined;
  readonly statusDetail: number | undefined;
  constructor(
    code: IscsiErrorCode,
    message: string,
    status?: { statusClass: number; statusDetail: number },
    options: IscsiErrorOptions = {},
  ) {
    super(code, message, options);
    this.statusClass = status?.statusClass;
    this.statusDetail = status?.statusDetail;
  }
  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      ...(this.statusClass === undefined ? {} : { statusClass: this.statusClass, statusDetail: this.statusDetail }),
    };
  }
}

/** CHAP failures: our side cannot answer, or the target failed to prove itself in mutual CHAP. */
export class AuthError extends IscsiError {}

/** The TCP connection could not be made, broke, or an operation timed out. */
export class TransportError extends IscsiError {}

/** A SCSI command ended with a status other than GOOD; carries the decoded sense when there is one. */
export class ScsiError extends IscsiError {
  readonly status: number | undefined;
  readonly senseKey: number | undefined;
  readonly asc: number | undefined;
  readonly ascq: number | undefined;
  constructor(
    code: IscsiErrorCode,
    message: string,
    facts: { status?: number; senseKey?: number; asc?: number; ascq?: number } = {},
    options: IscsiErrorOptions = {},
  ) {
    super(code, message, options);
    this.status = facts.status;
    this.senseKey = facts.senseKey;
    this.asc = facts.asc;
    this.ascq = facts.ascq;
  }
  override toJSON(): Record<string, unknown> {
    const facts = { status: this.status, senseKey: this.senseKey, asc: this.asc, ascq: this.ascq };
    return { ...super.toJSON(), ...Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) };
  }
}

/** Our caller's input was wrong (a bad URL, an out-of-range option). */
export class ArgumentError extends IscsiError {}

/** The daemon's files: a full disk, a failed read or write, or a file or folder refused as unsafe. */
export class StorageError extends IscsiError {
  /** The system's error name (ENOSPC, EIO, …) when one caused it. */
  readonly errno: string | undefined;
  constructor(code: 'ISCSI_STORAGE_FULL' | 'ISCSI_STORAGE_FAILED' | 'ISCSI_STORAGE_UNSAFE', message: string, options: IscsiErrorOptions & { errno?: string } = {}) {
    super(code, message, options);
    this.errno = options.errno;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...(this.errno === undefined ? {} : { errno: this.errno }) };
  }
}

/**
 * A failed file operation as a StorageError: ENOSPC/EDQUOT say the disk is full, anything else is a failure. `what`
 * names the file and the operation ("cannot write /x/nodes.json"); the message adds the errno, never file content.
 */
export function storageErrorFrom(error: unknown, what: string, hint?: string): StorageError {
  if (error instanceof StorageError) return error;
  const errno = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
  const full = errno === 'ENOSPC' || errno === 'EDQUOT';
  return new StorageError(full ? 'ISCSI_STORAGE_FULL' : 'ISCSI_STORAGE_FAILED', `${what}: ${full ? 'no space left on the device' : (errno ?? 'failed')}`, {
    cause: error,
    ...(errno === undefined ? {} : { errno }),
    hint: full ? 'free some space on the file system that holds it (df), then try again' : (hint ?? 'check the file system and the daemon\'s log'),
  });
}

/** A logout refused because a volume on one of the session's LUNs is in use (issue 12: "a busy volume refuses the logout"). */
/** What holds a LUN's disk when a logout is refused (issue 12: "a busy volume refuses the logout … naming it"). */
export interface VolumeBusyFacts {
  /** The disk: its BSD name on macOS (`disk4`); on Linux the loop device or the NBD export the user sits on. */
  readonly disk: string;
  /** The mount point in use, when a mounted file system (or an nbdfuse mount) holds the disk. */
  readonly mountPoint?: string;
  /** Who holds it: DiskArbitration's dissenter, or a process (`fio (pid 4242)`). */
  readonly holder?: string;
}

export class VolumeBusyError extends IscsiError {
  readonly disk: string;
  readonly mountPoint: string | undefined;
  readonly holder: string | undefined;
  constructor(facts: VolumeBusyFacts) {
    const by = facts.holder ? `: ${facts.holder}` : '';
    super(
      'ISCSI_VOLUME_BUSY',
      facts.mountPoint !== undefined ? `the volume mounted at ${facts.mountPoint} (${facts.disk}) is in use${by}` : `the disk ${facts.disk} is in use${by}`,
      {
        hint:
          facts.mountPoint !== undefined
            ? `unmount ${facts.mountPoint} (lsof +D ${facts.mountPoint} shows who holds it), or log out with --force to unmount it anyway`
            : 'stop that process, or log out with --force (its I/O then fails)',
      },
    );
    this.disk = facts.disk;
    this.mountPoint = facts.mountPoint;
    this.holder = facts.holder;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), disk: this.disk, ...(this.mountPoint === undefined ? {} : { mountPoint: this.mountPoint }), ...(this.holder === undefined ? {} : { holder: this.holder }) };
  }
}

export function isIscsiError(e: unknown): e is IscsiError {
  return e instanceof IscsiError;
}
