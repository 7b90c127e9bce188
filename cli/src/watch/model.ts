/**
 * The state of `iscsiadm session watch`, without I/O: daemon notifications and key presses go in (`WatchEvent`), the
 * view state comes out (`reduceWatch`). Rates come from the deltas of successive cumulative `session.stats`.
 */

export type WatchSessionState = 'logging-in' | 'logged-in' | 'recovering' | 'failed' | 'logged-out';

/** The fields of the daemon's SessionInfo the view needs (docs/api.md, Types). */
export interface WatchSessionInfo {
  readonly sid: number;
  readonly targetName: string;
  readonly portal: string;
  readonly state: WatchSessionState;
  readonly reason: string;
}

/** The daemon's SessionStats: cumulative counters since login, taken at `at`. */
export interface WatchStats {
  readonly sid: number;
  readonly commands: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** The disk's side through the HBA (iscsid --hba); null or absent without one. */
  readonly hba?: WatchHbaStats | null;
  readonly at: string;
}

/** The fields of the daemon's HbaStats the view needs. */
export interface WatchHbaStats {
  readonly inFlight: number;
  readonly failures: number;
  readonly aborts: number;
}

export interface Rates {
  readonly readBytesPerSec: number;
  readonly writeBytesPerSec: number;
  readonly iops: number;
}

export interface ThroughputSample {
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** Read + write bytes per second. */
  readonly bytesPerSec: number;
}

export interface WatchRow extends WatchSessionInfo {
  /** The last stats seen: the baseline for the next delta. */
  readonly last: WatchStats | null;
  /** Null until two stats samples have been seen. */
  readonly rates: Rates | null;
  /** Throughput over the last `HISTORY_MS`, oldest first. */
  readonly history: readonly ThroughputSample[];
  readonly queueDepth: number | null;
  readonly luns: number | null;
}

export interface LogEntry {
  readonly at: number;
  readonly text: string;
}

export interface WatchState {
  readonly rows: readonly WatchRow[];
  /** Index into `rows`; 0 when there are none. */
  readonly selected: number;
  readonly log: readonly LogEntry[];
  readonly loaded: boolean;
}

export type WatchEvent =
  | { readonly type: 'loaded'; readonly sessions: readonly WatchSessionInfo[]; readonly at: number }
  | { readonly type: 'stats'; readonly stats: WatchStats }
  | { readonly type: 'stateChanged'; readonly sid: number; readonly state: WatchSessionState; readonly reason: string; readonly at: number }
  | { readonly type: 'lunsChanged'; readonly sid: number; readonly luns: number; readonly at: number }
  | { readonly type: 'queueDepth'; readonly sid: number; readonly queueDepth: number }
  | { readonly type: 'select'; readonly delta: number }
  | { readonly type: 'log'; readonly text: string; readonly at: number };

/** A minute of throughput for the sparkline. */
export const HISTORY_MS = 60_000;
/** Log entries kept (the pane shows the newest few). */
export const LOG_LIMIT = 100;

export const initialWatchState: WatchState = { rows: [], selected: 0, log: [], loaded: false };

export function reduceWatch(state: WatchState, event: WatchEvent): WatchState {
  switch (event.type) {
    case 'loaded':
      return clampSelection({ ...state, rows: mergeLoaded(state.rows, event.sessions), loaded: true });
    case 'stats': {
      const row = state.rows.find((r) => r.sid === event.stats.sid);
      if (!row) return state;
      const next = updateRow(state, event.stats.sid, (r) => withStats(r, event.stats));
      const trouble = diskTrouble(row.last, event.stats);
      return trouble === undefined ? next : appendLog(next, Date.parse(event.stats.at), trouble);
    }
    case 'stateChanged': {
      const known = state.rows.some((r) => r.sid === event.sid);
      const next = known ? updateRow(state, event.sid, (row) => ({ ...row, state: event.state, reason: event.reason })) : state;
      return appendLog(next, event.at, `session ${event.sid} ${event.state}${event.reason ? `: ${event.reason}` : ''}`);
    }
    case 'lunsChanged':
      return appendLog(
        updateRow(state, event.sid, (row) => ({ ...row, luns: event.luns })),
        event.at,
        `session ${event.sid}: ${event.luns} LUN${event.luns === 1 ? '' : 's'}`,
      );
    case 'queueDepth':
      return updateRow(state, event.sid, (row) => ({ ...row, queueDepth: event.queueDepth }));
    case 'select':
      return clampSelection({ ...state, selected: state.selected + event.delta });
    case 'log':
      return appendLog(state, event.at, event.text);
  }
}

/** The session under the cursor, if any. */
export function selectedRow(state: WatchState): WatchRow | undefined {
  return state.rows[state.selected];
}

/** True when a session in the list still answers to the daemon (has a sid the daemon knows). */
export function isLive(state: WatchSessionState): boolean {
  return state !== 'logged-out' && state !== 'failed';
}

function newRow(info: WatchSessionInfo): WatchRow {
  return { sid: info.sid, targetName: info.targetName, portal: info.portal, state: info.state, reason: info.reason, last: null, rates: null, history: [], queueDepth: null, luns: null };
}

/**
 * The daemon's list wins for the sessions it has; a session we showed that it no longer has stays, as logged out, so
 * it can be logged in again — unless that node already has a new live session.
 */
function mergeLoaded(rows: readonly WatchRow[], sessions: readonly WatchSessionInfo[]): WatchRow[] {
  const bySid = new Map(rows.map((r) => [r.sid, r]));
  const out: WatchRow[] = sessions.map((s) => {
    const old = bySid.get(s.sid);
    return old ? { ...old, state: s.state, reason: s.reason } : newRow(s);
  });
  const liveNodes = new Set(sessions.map((s) => nodeKey(s)));
  const listed = new Set(sessions.map((s) => s.sid));
  for (const r of rows) {
    if (listed.has(r.sid) || liveNodes.has(nodeKey(r))) continue;
    liveNodes.add(nodeKey(r)); // one gone row per node is enough to log it in again
    out.push({ ...r, state: r.state === 'failed' ? 'failed' : 'logged-out', rates: null });
  }
  return out.sort((a, b) => a.sid - b.sid);
}

function nodeKey(s: { targetName: string; portal: string }): string {
  return `${s.targetName} ${s.portal}`;
}

/**
 * I/O errors and aborts the host saw on the session's disk since the last sample, as a log line (they matter more to
 * an admin than a rate does); undefined when there were none.
 */
function diskTrouble(prev: WatchStats | null, stats: WatchStats): string | undefined {
  // The first sample is the baseline, as for rates: what it counts happened before the watch started.
  if (!stats.hba || !prev) return undefined;
  const failures = stats.hba.failures - (prev?.hba?.failures ?? 0);
  const aborts = stats.hba.aborts - (prev?.hba?.aborts ?? 0);
  const parts = [failures > 0 ? `${failures} I/O error${failures === 1 ? '' : 's'}` : '', aborts > 0 ? `${aborts} abort${aborts === 1 ? '' : 's'}` : ''].filter(Boolean);
  return parts.length === 0 ? undefined : `session ${stats.sid} disk: ${parts.join(', ')}`;
}

function withStats(row: WatchRow, stats: WatchStats): WatchRow {
  const at = Date.parse(stats.at);
  const prev = row.last;
  if (!prev || !Number.isFinite(at)) return { ...row, last: stats };
  const seconds = (at - Date.parse(prev.at)) / 1000;
  const read = stats.bytesRead - prev.bytesRead;
  const written = stats.bytesWritten - prev.bytesWritten;
  const commands = stats.commands - prev.commands;
  // Out-of-order or reset counters: start again from this sample rather than show a negative rate.
  if (!(seconds > 0) || read < 0 || written < 0 || commands < 0) return { ...row, last: stats };
  const rates: Rates = { readBytesPerSec: read / seconds, writeBytesPerSec: written / seconds, iops: commands / seconds };
  const history = [...row.history, { at, bytesPerSec: rates.readBytesPerSec + rates.writeBytesPerSec }].filter((s) => s.at > at - HISTORY_MS);
  return { ...row, last: stats, rates, history };
}

function updateRow(state: WatchState, sid: number, fn: (row: WatchRow) => WatchRow): WatchState {
  let changed = false;
  const rows = state.rows.map((r) => {
    if (r.sid !== sid) return r;
    changed = true;
    return fn(r);
  });
  return changed ? { ...state, rows } : state;
}

function appendLog(state: WatchState, at: number, text: string): WatchState {
  const log = [...state.log, { at, text }];
  return { ...state, log: log.length > LOG_LIMIT ? log.slice(log.length - LOG_LIMIT) : log };
}

function clampSelection(state: WatchState): WatchState {
  const max = Math.max(0, state.rows.length - 1);
  const selected = Math.min(max, Math.max(0, state.selected));
  return selected === state.selected ? state : { ...state, selected };
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** One block character per value, scaled to the largest; all-idle is a flat baseline. */
export function sparkline(values: readonly number[], width = values.length): string {
  const tail = values.slice(Math.max(0, values.length - width));
  const max = Math.max(0, ...tail);
  return tail.map((v) => BLOCKS[max > 0 ? Math.min(7, Math.round((Math.max(0, v) / max) * 7)) : 0]).join('');
}

/** Megabytes (10^6 bytes) per second with one decimal, like iostat's MB/s. */
export function formatMBps(bytesPerSec: number | undefined): string {
  return bytesPerSec === undefined ? '-' : (bytesPerSec / 1e6).toFixed(1);
}

export function formatIops(iops: number | undefined): string {
  return iops === undefined ? '-' : Math.round(iops).toString();
}

/** `iqn.2004-04.com.example:disk1` → `…example:disk1`: the part after the colon says which disk. */
export function shortenTarget(name: string, width = 28): string {
  if (name.length <= width) return name;
  return `…${name.slice(name.length - (width - 1))}`;
}

/** One session as the JSON snapshot and the plain text line show it. */
export interface SessionSnapshot {
  readonly sid: number;
  readonly targetName: string;
  readonly portal: string;
  readonly state: WatchSessionState;
  readonly reason: string;
  readonly readBytesPerSec: number | null;
  readonly writeBytesPerSec: number | null;
  readonly iops: number | null;
  readonly commands: number | null;
  readonly bytesRead: number | null;
  readonly bytesWritten: number | null;
  readonly queueDepth: number | null;
  /** The disk's tasks in flight, I/O errors and aborts (iscsid --hba); null without an HBA target. */
  readonly hba: WatchHbaStats | null;
}

export function snapshotOf(row: WatchRow): SessionSnapshot {
  return {
    sid: row.sid,
    targetName: row.targetName,
    portal: row.portal,
    state: row.state,
    reason: row.reason,
    readBytesPerSec: row.rates?.readBytesPerSec ?? null,
    writeBytesPerSec: row.rates?.writeBytesPerSec ?? null,
    iops: row.rates?.iops ?? null,
    commands: row.last?.commands ?? null,
    bytesRead: row.last?.bytesRead ?? null,
    bytesWritten: row.last?.bytesWritten ?? null,
    queueDepth: row.queueDepth,
    hba: row.last?.hba ? { inFlight: row.last.hba.inFlight, failures: row.last.hba.failures, aborts: row.last.hba.aborts } : null,
  };
}

/**
 * The not-a-TTY line: `sid 1 iqn…:disk1 10.0.0.5:3260 logged-in read 1.2 MB/s write 0.0 MB/s 35 IOPS`, then, with an
 * HBA disk, ` disk in-flight 3 errors 0 aborts 0`.
 */
export function formatPlainLine(row: WatchRow): string {
  const r = row.rates;
  const io = r
    ? `read ${formatMBps(r.readBytesPerSec)} MB/s write ${formatMBps(r.writeBytesPerSec)} MB/s ${formatIops(r.iops)} IOPS`
    : `commands ${row.last?.commands ?? '-'} read ${row.last?.bytesRead ?? '-'} B written ${row.last?.bytesWritten ?? '-'} B`;
  const hba = row.last?.hba;
  const disk = hba ? ` disk in-flight ${hba.inFlight} errors ${hba.failures} aborts ${hba.aborts}` : '';
  return `sid ${row.sid} ${row.targetName} ${row.portal} ${row.state} ${io}${disk}`;
}
