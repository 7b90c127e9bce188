import type { IscsiError, IscsiErrorCode } from '../errors.js';

/**
 * Login failures that another attempt cannot fix (RFC 7143 §11.13.5 class 2 details and our own CHAP checks): the
 * session stops retrying and says why, instead of looping forever. Class 3 (target errors: service unavailable,
 * out of resources) and transport failures are worth retrying.
 */
const FATAL: ReadonlySet<IscsiErrorCode> = new Set<IscsiErrorCode>([
  'ISCSI_LOGIN_AUTH_FAILED',
  'ISCSI_LOGIN_AUTHORIZATION_FAILED',
  'ISCSI_LOGIN_TARGET_NOT_FOUND',
  'ISCSI_LOGIN_TARGET_REMOVED',
  'ISCSI_LOGIN_UNSUPPORTED_VERSION',
  'ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED',
  'ISCSI_LOGIN_MISSING_PARAMETER',
  'ISCSI_LOGIN_INITIATOR_ERROR',
  'ISCSI_CHAP_UNSUPPORTED_ALGORITHM',
  'ISCSI_CHAP_TARGET_AUTH_FAILED',
  'ISCSI_CHAP_REFLECTED_CHALLENGE',
  'ISCSI_CHAP_SAME_SECRET',
  'ISCSI_CHAP_MISSING_CREDENTIALS',
  'ISCSI_BAD_ARGUMENT',
  'ISCSI_BAD_URL',
]);

export function isFatalLoginError(error: IscsiError): boolean {
  return FATAL.has(error.code);
}

export interface BackoffOptions {
  /** The first wait: the session's DefaultTime2Wait (RFC 7143 §13.15), or a floor when that is 0. */
  readonly initialMs: number;
  /** Waits double up to this cap. */
  readonly maxMs: number;
  /** ± this fraction of random spread, so many initiators do not reconnect in lockstep. */
  readonly jitter?: number;
  readonly random?: () => number;
}

/** Exponential backoff with jitter for reconnect attempts. I/O-free: it only says how long to wait. */
export class ReconnectBackoff {
  private attempt = 0;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
    this.random = options.random ?? Math.random;
  }

  get attempts(): number {
    return this.attempt;
  }

  /** The wait before the next attempt. */
  next(): number {
    const base = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.attempt++);
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(base + spread));
  }

  reset(): void {
    this.attempt = 0;
  }
}
