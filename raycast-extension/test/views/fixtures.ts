// Model values as the data layer builds them from iscsid's answers (docs/api.md, Types), for the views' states.
import type { LunRow, NodeRow, PortalGroup, SessionInfo, SessionRow, SessionState } from '../../src/lib/model';

export function session(sid: number, targetName: string, state: SessionState = 'logged-in', reason = ''): SessionInfo {
  return {
    sid,
    targetName,
    portal: '192.168.1.10:3260',
    portalGroupTag: 1,
    state,
    reason,
    tsih: sid,
    isid: '400001370000',
  };
}

export function lun(n: number, disk: string | null, mountPoints: string[] = []): LunRow {
  return {
    lun: {
      lun: n,
      vendor: 'SYNOLOGY',
      product: 'iSCSI Storage',
      revision: '4.0',
      serial: null,
      sizeBytes: String(512 * 1024 ** 3),
      blockLength: 512,
      disk,
      mountPoints,
    },
    disk,
    mountPoints,
  };
}

export function sessionRow(
  s: SessionInfo,
  luns: LunRow[],
  readBps: number | null = null,
  writeBps: number | null = null,
): SessionRow {
  return { session: s, luns, readBps, writeBps };
}

export function nodeRow(
  targetName: string,
  portal: string,
  options: { automatic?: boolean; chap?: boolean; session?: SessionInfo | null } = {},
): NodeRow {
  return {
    node: {
      targetName,
      portal,
      portalGroupTag: 1,
      settings: {
        'node.startup': options.automatic ? 'automatic' : 'manual',
        'node.session.auth.username': options.chap ? 'alice' : '',
      },
      discoveredAt: '2026-12-06T18:00:00.000Z',
    },
    automatic: options.automatic ?? false,
    chapConfigured: options.chap ?? false,
    session: options.session ?? null,
  };
}

export function groups(...rows: NodeRow[]): PortalGroup[] {
  const byPortal = new Map<string, NodeRow[]>();
  for (const r of rows) byPortal.set(r.node.portal, [...(byPortal.get(r.node.portal) ?? []), r]);
  return [...byPortal].map(([portal, nodes]) => ({ portal, nodes }));
}

export const NAS = 'iqn.2000-01.com.synology:nas.backup';
export const MEDIA = 'iqn.2000-01.com.synology:nas.media';
export const PROBLEM = {
  kind: 'not-running' as const,
  socketPath: '/var/run/iscsid.sock',
  message: 'iscsid is not running: nothing listens on /var/run/iscsid.sock.',
  hint: 'Start it with `sudo launchctl kickstart -k system/io.github.iscsi-initiator.iscsid`.',
};
