import { DEFAULT_TIMEOUTS } from '../defaults.js';
import { IscsiError, LoginError, ProtocolError, TransportError } from '../errors.js';
import { LoginStateMachine, type LoginConfig, type LoginResult } from '../login/login-state-machine.js';
import { Opcode, type TargetPdu } from '../pdu/types.js';
import { formatPortal, type Portal } from '../portal.js';
import { IscsiConnection } from './connection.js';

export interface LoginOptions {
  /** RFC 7143 has no login timer; open-iscsi's node.conn[0].timeo.login_timeout defaults to 15 s. */
  readonly loginTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** How many redirections (§11.13.5 status 0x0101/0x0102) to follow before giving up. */
  readonly maxRedirects?: number;
}

export interface LoggedIn {
  readonly connection: IscsiConnection;
  readonly result: LoginResult;
  /** Where the session ended up after redirections; the original portal otherwise. */
  readonly portal: Portal;
  readonly redirected: boolean;
}

/**
 * Connects and logs in, following redirections to the TargetAddress the target names. Drives the I/O-free
 * LoginStateMachine; on any failure the connection is closed and a typed error is thrown.
 */
export async function connectAndLogin(portal: Portal, config: (portal: Portal) => LoginConfig, options: LoginOptions = {}): Promise<LoggedIn> {
  const maxRedirects = options.maxRedirects ?? 5;
  let current = portal;
  for (let hop = 0; ; hop++) {
    const connection = await IscsiConnection.connect(current, { timeoutMs: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs });
    const outcome = await loginOn(connection, new LoginStateMachine(config(current)), options.loginTimeoutMs ?? DEFAULT_TIMEOUTS.loginMs);
    if (outcome.kind === 'complete') return { connection, result: outcome.result, portal: current, redirected: hop > 0 };
    connection.close();
    if (hop >= maxRedirects) {
      throw new LoginError('ISCSI_LOGIN_REDIRECT_LOOP', `gave up after ${maxRedirects} redirections (last to ${formatPortal(outcome.portal)})`);
    }
    current = outcome.portal;
  }
}

type Outcome = { kind: 'complete'; result: LoginResult } | { kind: 'redirect'; portal: Portal };

function loginOn(connection: IscsiConnection, machine: LoginStateMachine, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: IscsiError | undefined, outcome?: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.onPdu = () => {};
      connection.onClose = () => {};
      if (error) {
        connection.close(error);
        reject(error);
      } else {
        resolve(outcome!);
      }
    };
    const timer = setTimeout(
      () => finish(new TransportError('ISCSI_LOGIN_TIMEOUT', `login to ${formatPortal(connection.portal)} timed out after ${timeoutMs} ms`, { hint: 'the target accepted the connection but did not answer the login' })),
      timeoutMs,
    );
    connection.onClose = (error) =>
      finish(error ?? new TransportError('ISCSI_CONNECTION_CLOSED', `connection to ${formatPortal(connection.portal)} closed during login`));
    connection.onPdu = (pdu: TargetPdu) => {
      if (pdu.opcode !== Opcode.LoginResponse) {
        throw new ProtocolError('ISCSI_PDU_UNEXPECTED', `unexpected opcode 0x${pdu.opcode.toString(16)} during login`);
      }
      const action = machine.receive(pdu);
      if (action.kind === 'send') connection.send(action.pdu);
      else if (action.kind === 'complete') finish(undefined, { kind: 'complete', result: action.result });
      else finish(undefined, { kind: 'redirect', portal: action.portal });
    };
    try {
      const first = machine.start();
      if (first.kind !== 'send') throw new LoginError('ISCSI_LOGIN_PROTOCOL', 'login did not start with a request');
      connection.send(first.pdu);
    } catch (e) {
      finish(e instanceof IscsiError ? e : new LoginError('ISCSI_LOGIN_PROTOCOL', String(e), undefined, { cause: e }));
    }
  });
}
