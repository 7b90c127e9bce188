/**
 * The target side of login (RFC 7143 §6, §11.12, §11.13) as one explicit state machine: Login Requests in, a Login
 * Response (and what to do after it) out. Stages: security (AuthMethod None or CHAP, §12.1.3) → operational (keys
 * answered by KeyResponder) → full feature. The target registry is reached through LoginContext: finding targets,
 * joining or reinstating sessions, assigning the TSIH (§11.13) and misbehaving on cue (redirection).
 */
import { encodeText, NegotiationError, Opcode, Stage, TextAssembler, type LoginRequest, type LoginResponse, type TextPair } from '@iscsi-initiator/core';
import { ChapAuthenticator, ChapFailure, type ChapSettings } from './chap.js';
import { DEFAULT_TARGET_PARAMS, KeyError, KeyResponder, type ConnectionParams, type SessionParams, type TargetParams } from './negotiation.js';

/** What login needs to know of a configured target. */
export interface LoginTarget {
  readonly name: string;
  readonly alias?: string | undefined;
  /** Incoming (and outgoing) CHAP accounts: CHAP is then required. */
  readonly chap?: ChapSettings | undefined;
  readonly params: TargetParams;
  /** Keys the test configured explicitly (offered when the initiator does not). */
  readonly explicit: ReadonlySet<string>;
  /** Commands granted beyond ExpCmdSN (§4.2.2.1): MaxCmdSN = ExpCmdSN + window - 1. */
  readonly window: number;
}

/** §11.13.5 status class and detail, with a reason for the record. */
export interface LoginFailure {
  readonly statusClass: number;
  readonly statusDetail: number;
  readonly reason: string;
}

export const LoginStatus = {
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  NotFound: 0x0203,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  SessionTypeUnsupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  MovedTemporarily: 0x0101,
  MovedPermanently: 0x0102,
} as const;

export function loginFailure(status: number, reason: string): LoginFailure {
  return { statusClass: status >> 8, statusDetail: status & 0xff, reason };
}

/** The login, complete: what the connection and the session are made of. */
export interface LoginOutcome {
  readonly sessionType: 'Normal' | 'Discovery';
  readonly target: LoginTarget | undefined;
  readonly initiatorName: string;
  readonly initiatorAlias: string | undefined;
  readonly isid: bigint;
  /** 0 for a new session (the context assigns one); the session's TSIH when joining it. */
  readonly tsih: number;
  readonly cid: number;
  /** The CmdSN the login carried: the session's first ExpCmdSN (§11.12.8). */
  readonly cmdSN: number;
  readonly session: SessionParams;
  readonly connection: ConnectionParams;
  readonly authenticated: 'None' | 'CHAP' | 'Mutual CHAP';
}

/** A session a connection may join (TSIH ≠ 0). */
export interface JoinableSession {
  readonly target: LoginTarget | undefined;
  readonly sessionType: 'Normal' | 'Discovery';
  readonly params: SessionParams;
}

export interface LoginContext {
  findTarget(name: string): LoginTarget | undefined;
  /** CHAP for discovery sessions, when configured (tgt's model: per-target accounts do not apply there). */
  readonly discoveryChap: ChapSettings | undefined;
  readonly portalGroupTag: number;
  /** The session named by a non-zero TSIH, when this initiator (ISID, name) may add a connection to it. */
  joinable(tsih: number, isid: bigint, initiatorName: string): JoinableSession | LoginFailure;
  /** A redirection armed for this login (misbehaviour), if any. */
  redirect(target: LoginTarget): { readonly address: string; readonly permanent: boolean } | undefined;
  /** Creates, reinstates or joins the session; returns its TSIH and command window, or a failure. */
  admit(outcome: LoginOutcome): { readonly tsih: number; readonly expCmdSN: number; readonly maxCmdSN: number } | LoginFailure;
}

export type LoginStep =
  | { readonly kind: 'continue'; readonly response: LoginResponse }
  /** Send the response (a failure or a redirection), then close the connection (§11.13.5: a failed login ends it). */
  | { readonly kind: 'end'; readonly response: LoginResponse; readonly failure: LoginFailure }
  | { readonly kind: 'complete'; readonly response: LoginResponse; readonly outcome: LoginOutcome };

type Phase = 'start' | 'auth-method' | 'chap-algorithm' | 'chap-response' | 'authenticated' | 'operational' | 'done';

/** Keys only the first request may carry, taken out before negotiation. */
const LEADING_KEYS = new Set(['InitiatorName', 'InitiatorAlias', 'SessionType', 'TargetName']);
const SECURITY_KEY = /^(AuthMethod|CHAP_[AICNR]|SRP_\w+|KRB_\w+|TargetAuth)$/;

export class TargetLogin {
  private phase: Phase = 'start';
  private stage: Stage = Stage.Security;
  private statSN: number;
  private readonly assembler = new TextAssembler();
  private first: LoginRequest | undefined;
  private initiatorName = '';
  private initiatorAlias: string | undefined;
  private sessionType: 'Normal' | 'Discovery' = 'Normal';
  private target: LoginTarget | undefined;
  private joining: JoinableSession | undefined;
  private chap: ChapAuthenticator | undefined;
  private responder: KeyResponder | undefined;
  private window = 1;
  private sentFirst = false;

  constructor(
    private readonly context: LoginContext,
    initialStatSN: number,
  ) {
    this.statSN = initialStatSN >>> 0;
  }

  /** The StatSN the next response on this connection carries (after login: the first full-feature StatSN). */
  get nextStatSN(): number {
    return this.statSN;
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  receive(request: LoginRequest): LoginStep {
    try {
      return this.step(request);
    } catch (e) {
      // Text that cannot be decoded (§6.1) is the initiator's error; nothing else is expected to throw here.
      if (e instanceof NegotiationError) return this.fail(request, LoginStatus.InitiatorError, e.message);
      throw e;
    }
  }

  private step(request: LoginRequest): LoginStep {
    if (this.phase === 'done') return this.fail(request, LoginStatus.InvalidDuringLogin, 'Login Request after the login completed');
    // §11.12: Version-min 0 is RFC 7143's; a higher minimum is a version we do not speak.
    if (request.versionMin > 0) return this.fail(request, LoginStatus.UnsupportedVersion, `Version-min ${request.versionMin}`);
    if (this.first && (request.isid !== this.first.isid || request.tsih !== this.first.tsih || request.cid !== this.first.cid)) {
      return this.fail(request, LoginStatus.InitiatorError, 'ISID, TSIH or CID changed during login (RFC 7143 §11.12)');
    }
    if (request.csg !== (this.phase === 'start' ? request.csg : this.stage) || (request.csg !== Stage.Security && request.csg !== Stage.Operational)) {
      return this.fail(request, LoginStatus.InitiatorError, `Login Request for stage ${request.csg} while in stage ${this.stage}`);
    }
    if (request.transit && (request.nsg <= request.csg || (request.nsg !== Stage.Operational && request.nsg !== Stage.FullFeature))) {
      return this.fail(request, LoginStatus.InitiatorError, `transit from stage ${request.csg} to ${request.nsg}`);
    }
    // §11.12: text continued over several requests is gathered; each part is acknowledged by an empty response.
    const pairs = this.assembler.push(request.data, request.continue);
    if (pairs === undefined) {
      if (request.transit) return this.fail(request, LoginStatus.InitiatorError, 'T and C both set (RFC 7143 §11.12)');
      return { kind: 'continue', response: this.response(request, { transit: false }) };
    }
    let keys = pairs;
    if (this.phase === 'start') {
      const start = this.start(request, pairs);
      if (start.kind !== 'continue') return start.step;
      keys = start.keys;
    } else if (pairs.some(([k]) => LEADING_KEYS.has(k) && k !== 'InitiatorAlias')) {
      return this.fail(request, LoginStatus.InitiatorError, 'InitiatorName/SessionType/TargetName after the first Login Request');
    }
    return request.csg === Stage.Security ? this.security(request, keys) : this.operational(request, keys);
  }

  /** The first request: who logs in, to what, and whether that session exists (§6.3, §13.4, §13.5, §13.21). */
  private start(request: LoginRequest, pairs: readonly TextPair[]): { kind: 'continue'; keys: TextPair[] } | { kind: 'step'; step: LoginStep } {
    this.first = request;
    const get = (key: string): string | undefined => pairs.find(([k]) => k === key)?.[1];
    const fail = (status: number, reason: string) => ({ kind: 'step' as const, step: this.fail(request, status, reason) });
    const initiatorName = get('InitiatorName');
    if (!initiatorName) return fail(LoginStatus.MissingParameter, 'no InitiatorName in the first Login Request (RFC 7143 §13.5)');
    this.initiatorName = initiatorName;
    this.initiatorAlias = get('InitiatorAlias');
    const sessionType = get('SessionType') ?? 'Normal';
    if (sessionType !== 'Normal' && sessionType !== 'Discovery') return fail(LoginStatus.SessionTypeUnsupported, `SessionType=${sessionType}`);
    this.sessionType = sessionType;
    if (sessionType === 'Normal') {
      const name = get('TargetName');
      if (!name) return fail(LoginStatus.MissingParameter, 'no TargetName for a Normal session (RFC 7143 §13.4)');
      this.target = this.context.findTarget(name);
      if (!this.target) return fail(LoginStatus.NotFound, `no target ${name}`);
    }
    if (request.tsih !== 0) {
      const session = this.context.joinable(request.tsih, request.isid, initiatorName);
      if ('statusClass' in session) return { kind: 'step', step: this.failWith(request, session) };
      if (session.target !== this.target || session.sessionType !== sessionType) {
        return fail(LoginStatus.InitiatorError, 'the connection names another target or session type than its session');
      }
      this.joining = session;
    }
    this.window = this.target?.window ?? 1;
    if (this.target) {
      const redirect = this.context.redirect(this.target);
      if (redirect) {
        const status = redirect.permanent ? LoginStatus.MovedPermanently : LoginStatus.MovedTemporarily;
        return {
          kind: 'step',
          step: {
            kind: 'end',
            response: this.response(request, { transit: false, status, keys: [['TargetAddress', redirect.address]] }),
            failure: loginFailure(status, `redirected to ${redirect.address}`),
          },
        };
      }
    }
    const chap = this.sessionType === 'Discovery' ? this.context.discoveryChap : this.target?.chap;
    if (chap) this.chap = new ChapAuthenticator(chap);
    this.responder = new KeyResponder(this.target?.params ?? DEFAULT_TARGET_PARAMS, {
      sessionType: this.sessionType,
      leading: request.tsih === 0,
      explicit: this.target?.explicit ?? new Set(),
      session: this.joining?.params,
    });
    this.phase = 'auth-method';
    if (request.csg === Stage.Operational) {
      // Skipping the security stage (§6.3) is only for a target that asks no authentication.
      if (this.chap) return fail(LoginStatus.AuthenticationFailure, 'the security stage was skipped but CHAP is required');
      this.phase = 'operational';
      this.stage = Stage.Operational;
    }
    return { kind: 'continue', keys: pairs.filter(([k]) => !LEADING_KEYS.has(k)) };
  }

  private security(request: LoginRequest, pairs: readonly TextPair[]): LoginStep {
    const security = new Map(pairs.filter(([k]) => SECURITY_KEY.test(k)));
    const other = pairs.filter(([k]) => !SECURITY_KEY.test(k));
    const replies: TextPair[] = [];
    if (other.length > 0) {
      const answered = this.responder!.respond(other, false);
      if (answered instanceof KeyError) return this.fail(request, LoginStatus.InitiatorError, answered.reason);
      replies.push(...answered);
    }
    if (this.phase === 'auth-method') {
      const offered = security.get('AuthMethod');
      if (offered === undefined) return this.fail(request, LoginStatus.MissingParameter, 'no AuthMethod in the security stage (RFC 7143 §12.1)');
      const method = this.chap ? 'CHAP' : 'None';
      if (!offered.split(',').includes(method)) {
        return this.fail(request, LoginStatus.AuthenticationFailure, `AuthMethod=${offered}, but this target requires ${method}`, [['AuthMethod', 'Reject']]);
      }
      replies.push(['AuthMethod', method]);
      security.delete('AuthMethod');
      this.phase = this.chap ? 'chap-algorithm' : 'authenticated';
    }
    if (this.phase === 'chap-algorithm' && security.has('CHAP_A')) {
      const challenge = this.chap!.challengeFor(security.get('CHAP_A')!);
      if (challenge instanceof ChapFailure) return this.fail(request, LoginStatus.AuthenticationFailure, challenge.reason, [['CHAP_A', 'Reject']]);
      replies.push(...challenge);
      security.delete('CHAP_A');
      this.phase = 'chap-response';
    } else if (this.phase === 'chap-response') {
      const verified = this.chap!.verify(security);
      if (verified instanceof ChapFailure) return this.fail(request, LoginStatus.AuthenticationFailure, verified.reason);
      replies.push(...verified);
      for (const k of ['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C']) security.delete(k);
      this.phase = 'authenticated';
    }
    if (security.size > 0) {
      return this.fail(request, LoginStatus.InitiatorError, `unexpected ${[...security.keys()].join(', ')} in the security stage`);
    }
    // §11.13: no transit before authentication is done, whatever the initiator asked.
    const transit = request.transit && this.phase === 'authenticated';
    if (transit && request.nsg === Stage.FullFeature) return this.complete(request, replies);
    if (transit) {
      this.phase = 'operational';
      this.stage = Stage.Operational;
    }
    return { kind: 'continue', response: this.response(request, { transit, keys: replies }) };
  }

  private operational(request: LoginRequest, pairs: readonly TextPair[]): LoginStep {
    if (pairs.some(([k]) => SECURITY_KEY.test(k))) {
      return this.fail(request, LoginStatus.InitiatorError, 'a security key in the operational stage (RFC 7143 §6.3)');
    }
    const responder = this.responder!;
    const replies = responder.respond(pairs);
    if (replies instanceof KeyError) return this.fail(request, LoginStatus.InitiatorError, replies.reason);
    if (request.transit) {
      // §6.2: keys we still want to negotiate are offered before we agree to leave the stage.
      const offers = responder.offers();
      if (offers.length === 0 && !responder.awaitingAnswers) return this.complete(request, replies);
      replies.push(...offers);
    }
    return { kind: 'continue', response: this.response(request, { transit: false, keys: replies }) };
  }

  private complete(request: LoginRequest, replies: TextPair[]): LoginStep {
    const { session, connection } = this.responder!.result();
    const outcome: LoginOutcome = {
      sessionType: this.sessionType,
      target: this.target,
      initiatorName: this.initiatorName,
      initiatorAlias: this.initiatorAlias,
      isid: request.isid,
      tsih: request.tsih,
      cid: request.cid,
      cmdSN: request.cmdSN,
      session,
      connection,
      authenticated: !this.chap ? 'None' : this.chap.mutual ? 'Mutual CHAP' : 'CHAP',
    };
    const admitted = this.context.admit(outcome);
    if ('statusClass' in admitted) return this.failWith(request, admitted);
    this.phase = 'done';
    const response = this.response(request, { transit: true, keys: replies, tsih: admitted.tsih, numbers: admitted });
    return { kind: 'complete', response, outcome: { ...outcome, tsih: admitted.tsih } };
  }

  private fail(request: LoginRequest, status: number, reason: string, keys: readonly TextPair[] = []): LoginStep {
    return this.failWith(request, loginFailure(status, reason), keys);
  }

  private failWith(request: LoginRequest, failure: LoginFailure, keys: readonly TextPair[] = []): LoginStep {
    this.phase = 'done';
    const status = (failure.statusClass << 8) | failure.statusDetail;
    return { kind: 'end', response: this.response(request, { transit: false, status, keys }), failure };
  }

  /** §11.13: a Login Response to `request`; StatSN advances with each one (the first is the target's choice). */
  private response(
    request: LoginRequest,
    o: { transit: boolean; status?: number; keys?: readonly TextPair[]; tsih?: number; numbers?: { expCmdSN: number; maxCmdSN: number } },
  ): LoginResponse {
    const keys = [...(o.keys ?? [])];
    if (!this.sentFirst && (o.status ?? 0) === 0) {
      this.sentFirst = true;
      // §13.9: the portal group tag is sent in the first Login Response of a Normal session's leading connection.
      if (this.sessionType === 'Normal' && request.tsih === 0) keys.push(['TargetPortalGroupTag', String(this.context.portalGroupTag)]);
      if (this.target?.alias) keys.push(['TargetAlias', this.target.alias]);
    }
    const statSN = this.statSN;
    this.statSN = (this.statSN + 1) >>> 0;
    const expCmdSN = o.numbers?.expCmdSN ?? request.cmdSN;
    return {
      opcode: Opcode.LoginResponse,
      transit: o.transit,
      continue: false,
      csg: request.csg,
      nsg: o.transit ? request.nsg : Stage.Security,
      versionMax: 0,
      versionActive: 0,
      isid: request.isid,
      tsih: o.tsih ?? (request.tsih !== 0 && (o.status ?? 0) === 0 ? request.tsih : 0),
      itt: request.itt,
      statSN,
      expCmdSN,
      maxCmdSN: o.numbers?.maxCmdSN ?? ((expCmdSN + this.window - 1) >>> 0),
      statusClass: (o.status ?? 0) >> 8,
      statusDetail: (o.status ?? 0) & 0xff,
      data: encodeText(keys),
    };
  }
}

