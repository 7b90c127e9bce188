/**
 * What the initiator did, for assertions: PDU counts by opcode, SCSI operation codes, logins and their failures,
 * logouts, reinstatements, task management, protocol violations, fired misbehaviours — plus an event stream and
 * `waitFor`, so a test waits on the target's observations instead of sleeping.
 */
import { opcodeName, TransportError } from '@iscsi-initiator/core';
import type { MisbehaviourKind } from './misbehaviour.js';

export type ViolationKind =
  /** §4.2.2.1: a non-immediate command beyond MaxCmdSN (silently ignored). */
  | 'cmdsn-overrun'
  /** §4.2.2.1: a non-immediate command below ExpCmdSN (a duplicate, silently ignored). */
  | 'cmdsn-duplicate'
  /** §11: bytes that do not frame as an initiator PDU (bad opcode, digest, segment over our MaxRecvDataSegmentLength). */
  | 'malformed-pdu'
  /** §11.12: a full-feature PDU before login completed, or a Login Request after it. */
  | 'out-of-phase'
  /** §13.10, §13.11, §13.14: immediate or unsolicited data the negotiated keys do not allow, or too much of it. */
  | 'unsolicited-data'
  /** §11.7: a Data-Out with the wrong DataSN, offset, TTT, length or F bit. */
  | 'data-out'
  /** §11.3: a command whose ITT names a task still in progress. */
  | 'itt-in-use'
  /** A Data-Out or SNACK for no task we know. */
  | 'unknown-task'
  /** §6.3: a SCSI command or task management request in a discovery session. */
  | 'discovery-session'
  /** §11.16: SNACK at ErrorRecoveryLevel 0. */
  | 'snack'
  /** A Text Request we could not make sense of. */
  | 'text';

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
  /** Which TCP connection (1, 2, … in accept order). */
  readonly connection: number;
}

export type TargetEvent =
  | { readonly type: 'connection'; readonly connection: number }
  | { readonly type: 'connection-closed'; readonly connection: number; readonly reason: string }
  | { readonly type: 'pdu'; readonly connection: number; readonly opcode: number }
  | { readonly type: 'scsi-command'; readonly connection: number; readonly opcode: number; readonly itt: number }
  | { readonly type: 'login'; readonly connection: number; readonly tsih: number; readonly sessionType: 'Normal' | 'Discovery'; readonly target: string | undefined; readonly authenticated: string }
  | { readonly type: 'login-failed'; readonly connection: number; readonly status: number; readonly reason: string }
  | { readonly type: 'logout'; readonly connection: number; readonly reasonCode: number }
  | { readonly type: 'reinstatement'; readonly connection: number; readonly tsih: number; readonly scope: 'session' | 'connection' }
  | { readonly type: 'task-management'; readonly connection: number; readonly function: number; readonly response: number }
  | { readonly type: 'violation'; readonly violation: Violation }
  | { readonly type: 'misbehaviour'; readonly connection: number | undefined; readonly kind: MisbehaviourKind; readonly detail: string }
  | { readonly type: 'nop-ping'; readonly connection: number; readonly answered: boolean };

export interface TargetStats {
  /** TCP connections accepted. */
  connections: number;
  /** PDUs received from initiators, by RFC 7143 name ('SCSI Command', 'NOP-Out', …). */
  readonly pdus: Record<string, number>;
  /** SCSI commands by operation code, as '0x28'. */
  readonly scsiCommands: Record<string, number>;
  /** Connections that sent a first Login Request. */
  loginAttempts: number;
  /** Logins that reached the full feature phase. */
  logins: number;
  readonly loginFailures: Array<{ readonly status: number; readonly reason: string }>;
  logouts: number;
  /** §6.3.5: sessions ended by a new leading login with the same ISID and TSIH 0. */
  reinstatements: number;
  /** A login with an existing session's TSIH and a CID still in use. */
  connectionReinstatements: number;
  /** Task management requests by function code. */
  readonly taskManagement: Record<number, number>;
  readonly violations: Violation[];
  /** Misbehaviours as they fired, in order. */
  readonly misbehaviours: Array<{ readonly kind: MisbehaviourKind; readonly detail: string }>;
  readonly nopPings: { sent: number; answered: number };
}

export function emptyStats(): TargetStats {
  return {
    connections: 0,
    pdus: {},
    scsiCommands: {},
    loginAttempts: 0,
    logins: 0,
    loginFailures: [],
    logouts: 0,
    reinstatements: 0,
    connectionReinstatements: 0,
    taskManagement: {},
    violations: [],
    misbehaviours: [],
    nopPings: { sent: 0, answered: 0 },
  };
}

export class Recorder {
  readonly stats: TargetStats = emptyStats();
  private readonly listeners = new Set<(event: TargetEvent) => void>();

  emit(event: TargetEvent): void {
    const s = this.stats;
    switch (event.type) {
      case 'connection':
        s.connections++;
        break;
      case 'pdu': {
        const name = opcodeName(event.opcode);
        s.pdus[name] = (s.pdus[name] ?? 0) + 1;
        break;
      }
      case 'scsi-command': {
        const key = `0x${event.opcode.toString(16).padStart(2, '0')}`;
        s.scsiCommands[key] = (s.scsiCommands[key] ?? 0) + 1;
        break;
      }
      case 'login':
        s.logins++;
        break;
      case 'login-failed':
        s.loginFailures.push({ status: event.status, reason: event.reason });
        break;
      case 'logout':
        s.logouts++;
        break;
      case 'reinstatement':
        if (event.scope === 'session') s.reinstatements++;
        else s.connectionReinstatements++;
        break;
      case 'task-management':
        s.taskManagement[event.function] = (s.taskManagement[event.function] ?? 0) + 1;
        break;
      case 'violation':
        s.violations.push(event.violation);
        break;
      case 'misbehaviour':
        s.misbehaviours.push({ kind: event.kind, detail: event.detail });
        break;
      case 'nop-ping':
        if (event.answered) s.nopPings.answered++;
        else s.nopPings.sent++;
        break;
      default:
        break;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A test's listener must not break the target.
      }
    }
  }

  loginAttempt(): void {
    this.stats.loginAttempts++;
  }

  on(listener: (event: TargetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the first event from now on that `match` accepts; rejects with ISCSI_TIMEOUT after `timeoutMs`.
   * With a `condition` instead, resolves as soon as it holds (checked now and after every event).
   */
  waitFor(match: (event: TargetEvent) => boolean, timeoutMs = 5_000): Promise<TargetEvent> {
    return new Promise((resolve, reject) => {
      const off = this.on((event) => {
        if (!match(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
      const timer = setTimeout(() => {
        off();
        reject(new TransportError('ISCSI_TIMEOUT', `the test target saw no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  waitUntil(condition: (stats: TargetStats) => boolean, timeoutMs = 5_000): Promise<void> {
    if (condition(this.stats)) return Promise.resolve();
    return this.waitFor(() => condition(this.stats), timeoutMs).then(() => undefined);
  }
}
