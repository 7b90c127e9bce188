// What `iscsiadm session -P 3` shows for one session (cli/src/session/format.ts, open-iscsi's layout), as markdown for
// a Raycast Detail view: the session, its timeouts, the negotiated parameters (RFC 7143 §13) and its LUNs.
import type { LunInfo } from './model';
import type { SessionDetails } from '@iscsi-initiator/core/rpc';
import { formatBytes } from './status';

/** The node settings that say how long the session waits (open-iscsi's "Timeouts:" block). */
const TIMEOUTS: ReadonlyArray<readonly [string, string]> = [
  ['Recovery Timeout', 'node.session.timeo.replacement_timeout'],
  ['Login Timeout', 'node.conn[0].timeo.login_timeout'],
  ['Logout Timeout', 'node.conn[0].timeo.logout_timeout'],
  ['NOP-Out Interval', 'node.conn[0].timeo.noop_out_interval'],
  ['NOP-Out Timeout', 'node.conn[0].timeo.noop_out_timeout'],
];

/** Markdown table cells: a pipe or a newline in a value would break the row. */
function cell(value: string | number): string {
  return String(value).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(rows: ReadonlyArray<readonly [string, string | number]>): string[] {
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`)];
}

function lunSection(lun: LunInfo, mountPoints: readonly string[]): string[] {
  return [
    `### LUN ${lun.lun}`,
    '',
    ...table([
      ['Vendor', lun.vendor],
      ['Model', lun.product],
      ['Revision', lun.revision],
      ['Serial', lun.serial ?? '(none)'],
      ['Size', `${formatBytes(lun.sizeBytes)} (${lun.sizeBytes} bytes), block length ${lun.blockLength}`],
      ['Attached disk', lun.disk ?? '(none)'],
      ['Mounted at', mountPoints.length === 0 ? '(not mounted)' : mountPoints.join(', ')],
    ]),
    '',
  ];
}

export interface DetailsInput {
  readonly details: SessionDetails;
  /** The node's settings (for the timeouts); undefined when the node was deleted meanwhile. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly initiatorName?: string;
  /** Mount points per LUN number. */
  readonly mountPoints: ReadonlyMap<number, readonly string[]>;
}

export function sessionMarkdown({ details: d, settings, initiatorName, mountPoints }: DetailsInput): string {
  const c = d.counters;
  const lines = [
    `# ${d.targetName}`,
    '',
    ...table([
      ['Portal', `${d.portal},${d.portalGroupTag}`],
      ['SID', d.sid],
      ['State', d.state],
      ['Reason', d.reason],
      ['ISID', d.isid],
      ['TSIH', d.tsih],
      ...(initiatorName === undefined ? [] : [['Initiator name', initiatorName] as const]),
    ]),
    '',
  ];
  if (settings !== undefined) {
    const rows = TIMEOUTS.filter(([, key]) => settings[key] !== undefined).map(
      ([label, key]) => [label, `${settings[key]} s`] as const,
    );
    if (rows.length > 0) lines.push('## Timeouts', '', ...table(rows), '');
  }
  const parameters = Object.entries(d.parameters);
  if (parameters.length > 0) lines.push('## Negotiated iSCSI parameters', '', ...table(parameters), '');
  lines.push(
    '## Statistics',
    '',
    ...table([
      ['Read', formatBytes(c.bytesRead)],
      ['Written', formatBytes(c.bytesWritten)],
      ['Commands', c.commands],
      ['Reconnects', c.reconnects],
      ['Retried commands', c.retriedCommands],
      ['Digest errors', c.digestErrors],
      ['Timeouts', c.timeouts],
    ]),
    '',
    '## Attached SCSI devices',
    '',
  );
  if (d.luns.length === 0) lines.push('No LUNs found: rescan the session.', '');
  for (const lun of d.luns) lines.push(...lunSection(lun, mountPoints.get(lun.lun) ?? []));
  return lines.join('\n').trimEnd() + '\n';
}
