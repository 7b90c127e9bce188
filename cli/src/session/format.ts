// Text layouts of open-iscsi's `iscsiadm -m session` (-P 0..3, -s), written from its documented output.
import type { Lun, SessionDetails, SessionInfo, SessionState, SessionStats } from './types.js';

/** PORTAL,TPGT as open-iscsi prints it; the tag is 1 when the daemon did not record one. */
export function portalWithTag(s: Pick<SessionInfo, 'portal' | 'portalGroupTag'>): string {
  return `${s.portal},${s.portalGroupTag ?? 1}`;
}

/** `tcp: [SID] PORTAL,TPGT IQN (non-flash)`: open-iscsi's one line per session. */
export function sessionLine(s: SessionInfo): string {
  return `tcp: [${s.sid}] ${portalWithTag(s)} ${s.targetName} (non-flash)`;
}

/** `[sid: N, target: IQN, portal: PORTAL,TPGT]`, the way open-iscsi names a session in logout/rescan/stats lines. */
export function sessionRef(s: SessionInfo): string {
  return `[sid: ${s.sid}, target: ${s.targetName}, portal: ${portalWithTag(s)}]`;
}

/** Our states in open-iscsi's words: its connection state (iscsi_conn_state) and session state (LOGGED_IN/FAILED/FREE). */
const STATE_WORDS: Readonly<Record<SessionState, { connection: string; session: string }>> = {
  'logging-in': { connection: 'IN LOGIN', session: 'FREE' },
  'logged-in': { connection: 'LOGGED IN', session: 'LOGGED_IN' },
  recovering: { connection: 'TRANSPORT WAIT', session: 'FAILED' },
  failed: { connection: 'FREE', session: 'FAILED' },
  'logged-out': { connection: 'FREE', session: 'FREE' },
};

export interface DetailOptions {
  readonly level: 1 | 2 | 3;
  readonly initiatorName?: string;
  /** Node settings of each session's node, by sid (for the Timeouts block); missing when the node is gone. */
  readonly settings?: ReadonlyMap<number, Readonly<Record<string, string>>>;
}

function banner(title: string, indent: string): string[] {
  const stars = '*'.repeat(title.length);
  return [`${indent}${stars}`, `${indent}${title}`, `${indent}${stars}`];
}

/**
 * open-iscsi's `-P` tree: one "Target:" per target, then per session its portals, interface, state; level 2 adds
 * timeouts and negotiated parameters, level 3 the attached LUNs. `sessions` are SessionDetails at level 2 and 3.
 */
export function sessionTree(sessions: readonly (SessionInfo | SessionDetails)[], options: DetailOptions): string[] {
  const lines: string[] = [];
  const byTarget = new Map<string, Array<SessionInfo | SessionDetails>>();
  for (const s of sessions) byTarget.set(s.targetName, [...(byTarget.get(s.targetName) ?? []), s]);
  const t1 = '\t';
  const t2 = '\t\t';
  for (const [target, group] of byTarget) {
    lines.push(`Target: ${target} (non-flash)`);
    for (const s of group) {
      const words = STATE_WORDS[s.state] ?? { connection: s.state.toUpperCase(), session: s.state.toUpperCase() };
      lines.push(`${t1}Current Portal: ${portalWithTag(s)}`, `${t1}Persistent Portal: ${portalWithTag(s)}`);
      lines.push(...banner('Interface:', t2));
      lines.push(`${t2}Iface Name: default`, `${t2}Iface Transport: tcp`);
      if (options.initiatorName) lines.push(`${t2}Iface Initiatorname: ${options.initiatorName}`);
      lines.push(
        `${t2}SID: ${s.sid}`,
        `${t2}iSCSI Connection State: ${words.connection}`,
        `${t2}iSCSI Session State: ${words.session}`,
        `${t2}Reason: ${s.reason}`,
        `${t2}ISID: ${s.isid}`,
        `${t2}TSIH: ${s.tsih}`,
      );
      if (options.level < 2 || !('parameters' in s)) continue;
      const settings = options.settings?.get(s.sid);
      if (settings) {
        lines.push(...banner('Timeouts:', t2));
        const timeouts: Array<[string, string]> = [
          ['Recovery Timeout', 'node.session.timeo.replacement_timeout'],
          ['Login Timeout', 'node.conn[0].timeo.login_timeout'],
          ['NOP-Out Interval', 'node.conn[0].timeo.noop_out_interval'],
          ['NOP-Out Timeout', 'node.conn[0].timeo.noop_out_timeout'],
        ];
        for (const [label, key] of timeouts) if (settings[key] !== undefined) lines.push(`${t2}${label}: ${settings[key]}`);
      }
      lines.push(...banner('Negotiated iSCSI params:', t2));
      for (const [key, value] of Object.entries(s.parameters)) lines.push(`${t2}${key}: ${value}`);
      if (options.level < 3) continue;
      lines.push(...banner('Attached SCSI devices:', t2));
      if (s.luns.length === 0) lines.push(`${t2}(no LUNs found; rescan with -r ${s.sid} -R)`);
      for (const lun of s.luns) lines.push(...lunLines(lun, t2));
    }
  }
  return lines;
}

/** One LUN: number, identity (SPC-4 INQUIRY), serial (VPD 0x80), size (READ CAPACITY 16) and its disk through the HBA. */
export function lunLines(lun: Lun, indent = ''): string[] {
  const size = BigInt(lun.sizeBytes);
  return [
    `${indent}Lun: ${lun.lun}`,
    `${indent}\tVendor: ${lun.vendor}  Model: ${lun.product}  Rev: ${lun.revision}`,
    `${indent}\tSerial: ${lun.serial ?? '(none)'}`,
    `${indent}\tSize: ${humanSize(size)} (${size} bytes), block length ${lun.blockLength}`,
    // open-iscsi's "Attached scsi disk sdX": here the HBA's disk (/dev/diskN on macOS, the NBD URI under the
    // simulator) and where its file systems are mounted (issue 12).
    `${indent}\tAttached disk: ${lun.disk ?? '(none)'}${lun.disk !== null && lun.mountPoints.length > 0 ? ` mounted at ${lun.mountPoints.join(', ')}` : ''}`,
  ];
}

/** open-iscsi's `-s` layout: a header naming the session, then key: value lines (its names where one exists). */
export function statsLines(s: SessionInfo, stats: SessionStats): string[] {
  const rows: Array<[string, number | string]> = [
    ['txdata_octets', stats.bytesWritten],
    ['rxdata_octets', stats.bytesRead],
    ['scsicmd_pdus', stats.commands],
    ['digest_err', stats.digestErrors],
    ['timeout_err', stats.timeouts],
    ['reconnects', stats.reconnects],
    ['retried_commands', stats.retriedCommands],
  ];
  // The disk's own I/O through the HBA (iscsid --hba): no open-iscsi name, so named after the lines above.
  const hba = stats.hba;
  if (hba) {
    rows.push(
      ['hba_target', hba.targetId],
      ['hba_inflight', hba.inFlight],
      ['hba_scsicmds', hba.commands],
      ['hba_txdata_octets', hba.bytesWritten],
      ['hba_rxdata_octets', hba.bytesRead],
      ['hba_io_err', hba.failures],
      ['hba_aborts', hba.aborts],
      ['hba_rescans', hba.rescans],
    );
  }
  rows.push(['at', stats.at]);
  return [`Stats for session ${sessionRef(s)}`, 'iSCSI SNMP:', ...rows.map(([k, v]) => `\t${k}: ${v}`)];
}

/** Binary units, three significant digits: 33554432 → "32.0 MiB". */
export function humanSize(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let unit = 0;
  let value = Number(bytes);
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}
