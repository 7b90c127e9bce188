import type {
  DiscoveredTarget,
  LunInfo,
  NodeRecord,
  SessionInfo,
  SessionState,
  SessionStats,
} from '@iscsi-initiator/core/rpc';
export type { DiscoveredTarget, LunInfo, NodeRecord, SessionInfo, SessionState, SessionStats };

/** Why the daemon cannot be reached: one clear screen, never a stack trace. */
export interface DaemonProblem {
  readonly kind: 'not-running' | 'refused' | 'permission' | 'incompatible';
  readonly socketPath: string;
  /** One sentence: what is wrong. */
  readonly message: string;
  /** What to do: how to start or install iscsid (markdown allowed). */
  readonly hint: string;
}
/** A session with its LUNs and live throughput (bytes/s over the last stats interval; null until two samples). */
export interface SessionRow {
  readonly session: SessionInfo;
  readonly luns: readonly LunRow[];
  readonly readBps: number | null;
  readonly writeBps: number | null;
}
/** A LUN with its disk: `/dev/diskN` (macOS) or NBD URI (simulator), and its mounted volumes. */
export interface LunRow {
  readonly lun: LunInfo;
  readonly disk: string | null;
  readonly mountPoints: readonly string[];
}
/** A node with whether automatic login is on, whether CHAP is set, and its session if one exists. */
export interface NodeRow {
  readonly node: NodeRecord;
  readonly automatic: boolean;
  readonly chapConfigured: boolean;
  readonly session: SessionInfo | null;
}
export interface PortalGroup {
  readonly portal: string;
  readonly nodes: readonly NodeRow[];
}
/** The menu-bar icon: every automatic node logged in / some down / some recovering / no automatic node. */
export type MenuBarStatus = 'all-up' | 'some-down' | 'recovering' | 'idle';
/** What a bulk action did, for the HUD / toast. */
export interface BulkOutcome {
  readonly succeeded: number;
  readonly failed: ReadonlyArray<{ readonly name: string; readonly error: string }>;
}
