import { ArgumentError } from '../errors.js';
import type { LoginAuth } from './login-state-machine.js';

export interface CredentialInput {
  readonly user?: string | undefined;
  readonly secret?: string | undefined;
  readonly targetUser?: string | undefined;
  readonly targetSecret?: string | undefined;
  readonly chapAlgorithms?: readonly number[] | undefined;
}

/**
 * Turns optional credentials into how we log in: none → AuthMethod=None; user+secret → CHAP; plus target
 * user+secret → mutual CHAP (RFC 7143 §12.1.3). Half-given credentials are a mistake the user should hear about.
 */
export function loginAuthFrom(input: CredentialInput): LoginAuth {
  const { user, secret, targetUser, targetSecret } = input;
  if (user === undefined && secret === undefined) {
    if (targetUser !== undefined || targetSecret !== undefined) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'target (mutual CHAP) credentials need initiator CHAP credentials too');
    }
    return { method: 'None' };
  }
  if (!user) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'a CHAP secret was given without a user name');
  if (secret === undefined || secret === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', `no CHAP secret for user "${user}"`, {
    hint: 'give it in ISCSI_CHAP_SECRET rather than on the command line',
  });
  if ((targetUser === undefined) !== (targetSecret === undefined)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'mutual CHAP needs both the target user name and the target secret');
  }
  return {
    method: 'CHAP',
    chap: {
      credentials: { username: user, secret: Buffer.from(secret, 'utf8') },
      ...(targetUser !== undefined && targetSecret !== undefined
        ? { targetCredentials: { username: targetUser, secret: Buffer.from(targetSecret, 'utf8') } }
        : {}),
      ...(input.chapAlgorithms ? { algorithms: input.chapAlgorithms } : {}),
    },
  };
}
