import { Flags } from '@oclif/core';
import { initiatorNameForDirectUse } from './initiator-name.js';
import {
  credentialsFromEnv,
  decodeReadCapacity16,
  readCapacity16,
  type Capacity16,
  DEFAULT_TIMEOUTS,
  loginAuthFrom,
  parseIscsiUrl,
  IscsiSession,
  type IscsiUrl,
  type ScsiCommandPath,
  type SessionOptions,
} from '@iscsi-initiator/core';

/** The flags speak seconds, like open-iscsi's settings; the defaults are core's (core/src/defaults.ts). */
function seconds(ms: number): number {
  return Math.round(ms / 1000);
}

/** Flags every direct (daemon-less) command shares. Secrets are never flags: they come from the environment. */
export const directFlags = {
  'initiator-name': Flags.string({
    description: 'initiator name (IQN) to log in as; default $ISCSI_INITIATOR_NAME, else the name iscsid logs in with (asked of the running daemon, or read from its state dir), else the one iscsid would generate',
    env: 'ISCSI_INITIATOR_NAME',
    helpGroup: 'SESSION',
  }),
  'login-timeout': Flags.integer({ description: 'seconds to wait for connect and login', default: seconds(DEFAULT_TIMEOUTS.loginMs), min: 1, max: 600, helpGroup: 'SESSION' }),
  'replacement-timeout': Flags.integer({
    description: 'seconds commands wait for a lost connection to be re-established before failing (open-iscsi replacement_timeout; 0 = fail at once, -1 = wait forever)',
    default: seconds(DEFAULT_TIMEOUTS.replacementMs),
    min: -1,
    max: 86_400,
    helpGroup: 'SESSION',
  }),
  'noop-interval': Flags.integer({ description: 'seconds of silence before a NOP-Out ping (noop_out_interval; 0 = never)', default: seconds(DEFAULT_TIMEOUTS.noopOutIntervalMs), min: 0, max: 3600, helpGroup: 'SESSION' }),
  'noop-timeout': Flags.integer({ description: 'seconds a ping may go unanswered before the connection is failed (noop_out_timeout)', default: seconds(DEFAULT_TIMEOUTS.noopOutTimeoutMs), min: 1, max: 3600, helpGroup: 'SESSION' }),
};

export const CREDENTIALS_HELP =
  'CHAP credentials: user in the URL or $ISCSI_CHAP_USERNAME; secret in $ISCSI_CHAP_SECRET (keeps it out of argv); ' +
  'mutual CHAP: $ISCSI_CHAP_TARGET_USERNAME and $ISCSI_CHAP_TARGET_SECRET. A secret is never printed.';

export interface DirectFlags {
  'initiator-name'?: string | undefined;
  'login-timeout': number;
  'replacement-timeout': number;
  'noop-interval': number;
  'noop-timeout': number;
}

/** Session options for a URL, with credentials from the URL or, failing that, the environment. */
export async function sessionOptionsFor(url: IscsiUrl, flags: DirectFlags, sessionType: 'Normal' | 'Discovery' = 'Normal'): Promise<SessionOptions> {
  const env = credentialsFromEnv();
  const timeoutMs = flags['login-timeout'] * 1000;
  return {
    portal: url.portal,
    initiatorName: await initiatorNameForDirectUse(flags['initiator-name']),
    sessionType,
    targetName: sessionType === 'Normal' ? url.targetName : undefined,
    auth: loginAuthFrom({
      user: url.user ?? env.user,
      secret: url.secret ?? env.secret,
      targetUser: url.targetUser ?? env.targetUser,
      targetSecret: url.targetSecret ?? env.targetSecret,
      chapAlgorithms: url.chapAlgorithms,
    }),
    proposal: {
      ...(url.headerDigest ? { headerDigest: url.headerDigest } : {}),
      ...(url.dataDigest ? { dataDigest: url.dataDigest } : {}),
    },
    connectTimeoutMs: timeoutMs,
    loginTimeoutMs: timeoutMs,
    noopOutIntervalMs: flags['noop-interval'] * 1000,
    noopOutTimeoutMs: flags['noop-timeout'] * 1000,
  };
}

/**
 * Opens a session to the URL's target, runs `fn` on its LUN, and always logs out. The session recovers from a lost
 * connection by itself (ERL 0), within --replacement-timeout. `extra` adds session options.
 */
export async function withLun<T>(
  urlText: string,
  flags: DirectFlags,
  fn: (session: IscsiSession, lun: number) => Promise<T>,
  extra: Partial<SessionOptions> = {},
): Promise<T> {
  const url = parseIscsiUrl(urlText, { requireLun: true });
  const session = await IscsiSession.open({ ...(await sessionOptionsFor(url, flags)), replacementTimeoutMs: flags['replacement-timeout'] * 1000, ...extra });
  try {
    return await fn(session, url.lun!);
  } finally {
    await session.logout().catch(() => {});
  }
}

/** READ CAPACITY (16) (SBC-3 §5.16): the block length and count every LUN command checks its arguments against. */
export async function readCapacity(session: ScsiCommandPath, lun: number): Promise<Capacity16> {
  return decodeReadCapacity16((await session.command({ lun, cdb: readCapacity16(32), readLength: 32 })).data);
}
