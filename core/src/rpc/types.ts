// What iscsid's methods answer and its notifications carry (docs/api.md, Types). Plain data, no imports: the daemon
// builds these, the CLI and Raycast read them.

/** A session's life: logging in, in Full Feature Phase, reconnecting after a lost connection (ERL 0), or over. */
export type SessionState = 'logging-in' | 'logged-in' | 'recovering' | 'failed' | 'logged-out';

/** open-iscsi key names → values as text (NODE_KEYS); never a secret. */
export type NodeSettings = Record<string, string>;

/** One target × portal in the node database. */
export interface NodeRecord {
  targetName: string;
  /** "host:port", IPv6 in brackets. */
  portal: string;
  portalGroupTag: number;
  /** Every setting (NODE_KEYS), stored values over defaults. */
  settings: NodeSettings;
  /** When discovery last reported this node (ISO 8601). */
  discoveredAt: string;
  /** The discovery portal that reported it. */
  discoveredVia?: string;
}

/** A node with what a client shows beside it (nodes.status): its session, if any, and whether CHAP is ready. */
export interface NodeStatus {
  readonly node: NodeRecord;
  /**
   * The node's newest session in sessions.list that is not over, else its newest one there (dropped, kept until a
   * logout); null when it has none there: never logged in, or logged out (a logout removes the session).
   */
  readonly session: SessionInfo | null;
  /** authmethod CHAP with a user name, and a secret stored for it (the node's or its target's): never the secret. */
  readonly chapConfigured: boolean;
}

export interface SessionInfo {
  readonly sid: number;
  readonly targetName: string;
  readonly portal: string;
  readonly portalGroupTag: number;
  readonly state: SessionState;
  readonly reason: string;
  /** Target-assigned (RFC 7143 §11.12.4). */
  readonly tsih: number;
  /** RFC 7143 §11.12.5: 6 bytes as 12 lower-case hex digits. */
  readonly isid: string;
}

export interface LunInfo {
  readonly lun: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** VPD page 0x80 (SPC-4 §7.8.16), null when the LUN has none. */
  readonly serial: string | null;
  /** Decimal string: a byte count can pass 2^53. */
  readonly sizeBytes: string;
  readonly blockLength: number;
  /** The LUN's disk through the HBA (iscsid --hba): the NBD URI under the simulator; null when none is attached. */
  readonly disk: string | null;
  /**
   * Where file systems on that disk are mounted (issue 12: "/dev/diskN and its mount points"): DiskArbitration's
   * volumes on macOS; under the simulator, the mounts of loop devices over an nbdfuse file of the export. Empty when
   * nothing is mounted or there is no disk.
   */
  readonly mountPoints: string[];
}

/** Cumulative since login, across reconnects; `at` is when it was taken (ISO 8601). */
export interface SessionStats {
  readonly sid: number;
  readonly commands: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly reconnects: number;
  readonly retriedCommands: number;
  readonly digestErrors: number;
  readonly timeouts: number;
  /** The I/O the disk's HBA sent through this session (iscsid --hba); null when the session has no HBA target. */
  readonly hba: HbaStats | null;
  readonly at: string;
}

/**
 * One session's HBA target, cumulative since it was attached (the disk's side of `commands`/`bytesRead`/`bytesWritten`,
 * which count every command of the session: the HBA's and the daemon's own scans and flushes).
 */
export interface HbaStats {
  readonly targetId: number;
  /** Tasks the HBA handed to the session and the session has not answered yet. */
  readonly inFlight: number;
  /** Tasks answered to the HBA, any status. */
  readonly commands: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Tasks ended with the failure status: I/O errors the host's SCSI stack saw (replacement_timeout, a lost session). */
  readonly failures: number;
  /** Aborts the host's SCSI stack asked for (its command timeouts). */
  readonly aborts: number;
  /** Rescans after a LUN inventory change (3Fh/0Eh). */
  readonly rescans: number;
}

/** What `sessions.get` answers. */
export interface SessionDetails extends SessionInfo {
  /** Negotiated operational keys by their RFC 7143 names, values as text. */
  readonly parameters: Record<string, string>;
  readonly counters: SessionStats;
  readonly luns: LunInfo[];
}

export interface InitiatorInfo {
  name: string;
  alias?: string;
}

export interface VersionInfo {
  readonly name: 'iscsid';
  /** The daemon's package version. */
  readonly version: string;
  /** RPC_PROTOCOL_VERSION of the daemon. */
  readonly protocol: number;
}

export interface DiscoveredPortal {
  readonly address: string;
  readonly port: number;
  readonly portalGroupTag: number;
}

export interface DiscoveredTarget {
  readonly targetName: string;
  readonly portals: DiscoveredPortal[];
}

export interface DiscoveryResult {
  readonly targets: DiscoveredTarget[];
  /** Node records written. */
  readonly recorded: number;
}

export interface SessionStateChange {
  readonly sid: number;
  readonly state: SessionState;
  readonly reason: string;
}

export interface SessionLunsChange {
  readonly sid: number;
  readonly luns: LunInfo[];
}
