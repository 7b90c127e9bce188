/**
 * The one source of truth for the engine's defaults and limits: every timeout, the queue-depth range and the daemon's
 * socket path are defined here and nowhere else. Plain constants, no imports, no work at import: every layer, the CLI
 * and client bundles may read this file.
 */

/** Commands in flight per session by default (open-iscsi's node.session.queue_depth). */
export const DEFAULT_QUEUE_DEPTH = 32;
/** The largest queue depth a session, a node setting or a CLI flag accepts. */
export const MAX_QUEUE_DEPTH = 4096;

/** Timeouts in milliseconds. open-iscsi's names in comments where one exists. */
export const DEFAULT_TIMEOUTS = Object.freeze({
  /** TCP connect (node.conn[0].timeo.login_timeout covers connect + login in open-iscsi; we time them apart). */
  connectMs: 10_000,
  /** The whole login exchange (node.conn[0].timeo.login_timeout = 15 s). */
  loginMs: 15_000,
  /** Logout Response wait (node.conn[0].timeo.logout_timeout = 15 s). */
  logoutMs: 15_000,
  /** A SCSI command not answered in this time is aborted with ABORT TASK (the SCSI layer's 30 s); 0 = never. */
  commandMs: 30_000,
  /** A task management request not answered in this time gives up the connection (node.session.err_timeo.abort_timeout is 15 s; we use 10). */
  taskManagementMs: 10_000,
  /** NOP-Out ping after this long without a PDU from the target (node.conn[0].timeo.noop_out_interval = 5 s); 0 = never. */
  noopOutIntervalMs: 5_000,
  /** A ping unanswered this long fails the connection (node.conn[0].timeo.noop_out_timeout = 5 s). */
  noopOutTimeoutMs: 5_000,
  /** Commands wait this long for a lost connection to come back (node.session.timeo.replacement_timeout = 120 s). */
  replacementMs: 120_000,
  /** Cap of the reconnect backoff. */
  reconnectMaxDelayMs: 30_000,
  /** Floor of the first reconnect wait when DefaultTime2Wait is 0. */
  reconnectMinDelayMs: 100,
  /** Connecting to iscsid's socket. */
  rpcConnectMs: 5_000,
});

/**
 * Recovery must make progress or give up: after this many re-logins in a row in which no command completed (the target
 * accepts the login, then drops the connection on the first command), the waiting commands fail with
 * ISCSI_RECOVERY_NO_PROGRESS instead of looping until replacement_timeout — which each such login would restart.
 */
export const DEFAULT_MAX_RELOGINS_WITHOUT_PROGRESS = 5;

/** The daemon's answers to the host (issue 12, macOS adapters: sleep and wake, network changes). */
export const DEFAULT_HOST_EVENTS = Object.freeze({
  /** Before sleep, in-flight I/O may finish this long; then sleep is allowed anyway (macOS waits 30 s at most). */
  sleepQuiesceMs: 10_000,
  /** Asleep at least this long, a connection is taken as dead (the target's own pings gave up): recover at once. */
  wakeStaleAfterMs: 10_000,
  /** Network path changes closer together than this are one change (an interface flapping, DHCP renewing). */
  networkDebounceMs: 500,
  /** One unmount step before a logout (umount, losetup -d, fusermount3 -u): a file system may flush this long. */
  unmountStepMs: 30_000,
});

/** BUSY / TASK SET FULL retries of a command (exponential backoff from 5 ms to 1 s). */
export const DEFAULT_BUSY_RETRIES = 10;

/** iscsid's socket (docs/security.md): the same path on macOS and Linux. */
export const DEFAULT_SOCKET_PATH = '/var/run/iscsid.sock';

/**
 * iscsid's RPC limits (docs/security.md, Limits): what one peer on the socket can make the daemon hold. Settable per
 * server (RpcServerOptions.limits); the 1 MiB request line cap is MAX_MESSAGE_BYTES in the RPC contract.
 */
export const DEFAULT_RPC_LIMITS = Object.freeze({
  /** Calls in one batch (JSON-RPC 2.0 §6); a longer batch is answered with one Invalid Request error. */
  maxBatchCalls: 100,
  /** One answer line; a call whose answer would pass it gets an error instead (a batch: the calls past the budget). */
  maxAnswerBytes: 1 << 20,
  /** Calls running at once per connection; further lines wait unread (reading pauses). */
  maxCallsInFlight: 100,
  /** Reading a connection pauses while this much of its output is unsent, until the socket drains. */
  maxUnsentBytes: 256 << 10,
  /** A connection (a slow subscriber, a peer not reading its answers) with more unsent output than this is closed. */
  maxBacklogBytes: 4 << 20,
  /** Connections per non-root uid (an unknown peer counts as one uid); root is exempt. */
  maxConnectionsPerUid: 16,
  /** Connections in all, root's included: far below launchd's default of 256 open files on macOS. */
  maxConnections: 128,
  /** Of maxConnections, this many are kept for root: others are refused once only these are left. */
  connectionsReservedForRoot: 16,
});
export type RpcLimits = { -readonly [K in keyof typeof DEFAULT_RPC_LIMITS]: number };

/** An HBA call (handshake, map, create/destroy target) unanswered this long drops the connection (ETIMEDOUT). */
export const HBA_CALL_TIMEOUT_MS = 10_000;
