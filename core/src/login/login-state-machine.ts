import { LoginError, NegotiationError } from '../errors.js';
import { Opcode, Stage, type LoginRequest, type LoginResponse } from '../pdu/types.js';
import { parsePortal, type Portal } from '../portal.js';
import { serialAdd } from '../session/serial.js';
import { checkDuplicates, encodeText, splitText, TextAssembler, type TextPair } from '../text/text-codec.js';
import { Negotiator, type OperationalParameters, type OperationalProposal } from '../text/negotiation.js';
import { ChapInitiator, type ChapOptions } from './chap.js';
import { loginStatusError, StatusClass } from './status.js';

/** How we authenticate (RFC 7143 §12). "None" still passes through the security stage, as most initiators do. */
export type LoginAuth = { readonly method: 'None' } | { readonly method: 'CHAP'; readonly chap: ChapOptions };

export interface LoginConfig {
  readonly initiatorName: string;
  readonly initiatorAlias?: string | undefined;
  readonly sessionType: 'Normal' | 'Discovery';
  /** Required for a Normal session (§13.4). */
  readonly targetName?: string | undefined;
  readonly isid: bigint;
  /** 0 for a new session; the old TSIH to reinstate one (§6.3.5). */
  readonly tsih?: number | undefined;
  readonly cid?: number | undefined;
  readonly itt?: number | undefined;
  /** The CmdSN of the login requests (§11.12.8: login requests are immediate and carry the session's next CmdSN). */
  readonly cmdSN?: number | undefined;
  readonly auth: LoginAuth;
  readonly proposal?: OperationalProposal | undefined;
}

export interface LoginResult {
  readonly tsih: number;
  readonly isid: bigint;
  readonly cid: number;
  /** The StatSN of the final Login Response; the next response will carry expStatSN. */
  readonly expStatSN: number;
  readonly cmdSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly parameters: OperationalParameters;
  readonly authenticated: 'None' | 'CHAP' | 'Mutual CHAP';
}

export type LoginAction =
  | { readonly kind: 'send'; readonly pdu: LoginRequest }
  | { readonly kind: 'complete'; readonly result: LoginResult }
  | { readonly kind: 'redirect'; readonly portal: Portal; readonly permanent: boolean };

type Phase =
  | 'idle'
  | 'security-auth-method' // AuthMethod offered, waiting for the target's choice
  | 'security-chap-algorithm' // CHAP_A sent, waiting for CHAP_A/CHAP_I/CHAP_C
  | 'security-chap-response' // CHAP_N/CHAP_R sent, waiting for transit (and the target's CHAP_N/CHAP_R in mutual)
  | 'operational'
  | 'done'
  | 'failed';

const MAX_EXCHANGES = 64;
/** §13.12: during login a target need accept no more than 8192 bytes of text per PDU. */
const LOGIN_SEGMENT_LIMIT = 8192;
const SECURITY_KEYS = /^(AuthMethod|CHAP_[AICNR]|SRP_\w+|KRB_\w+|SPKM_\w+)$/;

/**
 * The initiator's login as one explicit state machine (RFC 7143 §6, §11.12, §11.13): LoginResponses in, actions out.
 * No sockets inside; the connection layer sends what `start`/`receive` return and feeds back every Login Response.
 *
 * Stages: security (CSG=0) → operational (CSG=1) → full feature (NSG=3). Continuations (C bit) are gathered and
 * answered with empty requests; every response is checked against what we asked for: ITT, ISID, version, the stage it
 * answers, a transit only to the stage we requested, and a TSIH on the final response.
 */
export class LoginStateMachine {
  private phase: Phase = 'idle';
  private readonly negotiator: Negotiator;
  private readonly chap: ChapInitiator | undefined;
  private readonly assembler = new TextAssembler();
  private readonly itt: number;
  private readonly cid: number;
  private readonly cmdSN: number;
  private csg: Stage = Stage.Security;
  private nsg: Stage = Stage.Operational;
  private expStatSN = 0;
  private haveStatSN = false;
  private tsih: number;
  /** T bit of our last request that was not a continuation: the target may transit only when we asked (§11.13.3). */
  private askedTransit = false;
  private exchanges = 0;
  private targetAuthMethod: 'None' | 'CHAP' | undefined;
  private targetVerified = false;
  /** The rest of our text when it did not fit in one Login Request, and the T bit its last part carries. */
  private outgoing: { parts: Buffer[]; transit: boolean } | undefined;

  constructor(private readonly config: LoginConfig) {
    if (config.sessionType === 'Normal' && !config.targetName) {
      throw new LoginError('ISCSI_LOGIN_PROTOCOL', 'a Normal session needs a TargetName (RFC 7143 §13.4)');
    }
    this.negotiator = new Negotiator(config.sessionType, config.proposal);
    this.chap = config.auth.method === 'CHAP' ? new ChapInitiator(config.auth.chap) : undefined;
    this.itt = config.itt ?? 0;
    this.cid = config.cid ?? 0;
    this.cmdSN = config.cmdSN ?? 1;
    this.tsih = config.tsih ?? 0;
  }

  get state(): Phase {
    return this.phase;
  }

  /** The first Login Request: leading keys plus the AuthMethod offer (§6.3, §13.4-§13.6). */
  start(): LoginAction {
    if (this.phase !== 'idle') throw new LoginError('ISCSI_LOGIN_PROTOCOL', 'login already started');
    const leading: TextPair[] = [['InitiatorName', this.config.initiatorName]];
    if (this.config.initiatorAlias) leading.push(['InitiatorAlias', this.config.initiatorAlias]);
    leading.push(['SessionType', this.config.sessionType]);
    if (this.config.sessionType === 'Normal') leading.push(['TargetName', this.config.targetName!]);
    // Offer only the method we are configured for: offering "CHAP,None" would let a target downgrade us.
    if (this.chap) {
      this.phase = 'security-auth-method';
      return this.send(Stage.Security, Stage.Operational, false, [...leading, ['AuthMethod', 'CHAP']]);
    }
    this.phase = 'security-auth-method';
    return this.send(Stage.Security, Stage.Operational, true, [...leading, ['AuthMethod', 'None']]);
  }

  receive(pdu: LoginResponse): LoginAction {
    try {
      return this.step(pdu);
    } catch (e) {
      this.phase = 'failed';
      throw e;
    }
  }

  private step(pdu: LoginResponse): LoginAction {
    if (this.phase === 'idle' || this.phase === 'done' || this.phase === 'failed') {
      throw protocol(`unexpected Login Response in state ${this.phase}`);
    }
    if (pdu.opcode !== Opcode.LoginResponse) throw protocol('expected a Login Response');
    // A failure or redirection ends this login whatever else the PDU says: tgt, for one, leaves the ISID zero in
    // such responses, so they are read before the ISID check.
    if (pdu.statusClass === StatusClass.Redirection) return this.redirect(pdu);
    if (pdu.statusClass !== StatusClass.Success) throw loginStatusError(pdu.statusClass, pdu.statusDetail);
    if (pdu.itt !== this.itt) throw protocol(`Login Response for ITT 0x${pdu.itt.toString(16)}, expected 0x${this.itt.toString(16)}`);
    if (pdu.isid !== this.config.isid) throw protocol('Login Response carries another ISID');
    this.expStatSN = serialAdd(pdu.statSN, 1);
    this.haveStatSN = true;
    if (pdu.statusDetail !== 0) throw protocol(`success class with detail 0x${pdu.statusDetail.toString(16)}`);
    // §11.13: versionActive is the version in use; we speak only version 0.
    if (pdu.versionActive !== 0) {
      throw new LoginError('ISCSI_LOGIN_UNSUPPORTED_VERSION', `target chose iSCSI version ${pdu.versionActive}, we speak 0`);
    }
    if (pdu.csg !== this.csg) throw protocol(`response for stage ${pdu.csg} while we are in stage ${this.csg}`);
    if (pdu.transit && pdu.continue) throw protocol('T and C bits both set (§11.13.2)');
    if (pdu.transit && !this.askedTransit) throw protocol('target set T although our request did not (§11.13.3)');
    if (pdu.transit && (pdu.nsg > this.nsg || pdu.nsg <= this.csg)) {
      throw protocol(`target jumped to stage ${pdu.nsg}; we asked for ${this.nsg} (§11.13.3)`);
    }
    if (this.outgoing) return this.sendNextPart(pdu);

    const pairs = this.assembler.push(pdu.data, pdu.continue);
    if (pairs === undefined) {
      // §11.12.2: more text follows; ask for it with an empty request in the same stage.
      return this.send(this.csg, this.nsg, false, [], true);
    }
    checkDuplicates(pairs);

    if (this.csg === Stage.Security) return this.security(pdu, pairs);
    return this.operational(pdu, pairs);
  }

  private security(pdu: LoginResponse, pairs: readonly TextPair[]): LoginAction {
    const keys = new Map(pairs);
    const others = pairs.filter(([k]) => !SECURITY_KEYS.test(k));
    // §6.3: in the security stage only keys usable in either stage are accepted (TargetPortalGroupTag, TargetAlias…).
    const answers = this.negotiator.receive(others, 'security');

    if (this.phase === 'security-auth-method') {
      const method = keys.get('AuthMethod');
      if (method === undefined) {
        // A target may skip the AuthMethod answer only when it moves on without authentication and we offered None.
        if (!(pdu.transit && !this.chap)) throw missing('AuthMethod');
      } else if (method === 'Reject' || method === 'NotUnderstood' || method === 'Irrelevant') {
        throw new LoginError('ISCSI_LOGIN_AUTH_FAILED', `target refused AuthMethod=${this.chap ? 'CHAP' : 'None'}`, undefined, {
          hint: this.chap ? 'the target does not accept CHAP' : 'the target requires authentication: configure a CHAP user name and secret',
        });
      } else if (method === 'CHAP' && !this.chap) {
        throw new LoginError('ISCSI_LOGIN_AUTH_FAILED', 'the target requires CHAP authentication', undefined, {
          hint: 'authentication failed: configure a CHAP user name and secret for this target',
        });
      } else if (method !== (this.chap ? 'CHAP' : 'None')) {
        throw new NegotiationError('ISCSI_NEGOTIATION_BAD_VALUE', `target chose AuthMethod=${method}, which we did not offer`, 'AuthMethod');
      }
      this.targetAuthMethod = this.chap ? 'CHAP' : 'None';
      if (!this.chap) {
        if (pdu.transit) return this.enterOperational(pdu, answers);
        return this.send(Stage.Security, Stage.Operational, true, answers);
      }
      this.phase = 'security-chap-algorithm';
      return this.send(Stage.Security, Stage.Operational, false, [...answers, ...this.chap.start()]);
    }

    if (this.phase === 'security-chap-algorithm') {
      const response = this.chap!.respond(keys);
      this.phase = 'security-chap-response';
      return this.send(Stage.Security, Stage.Operational, true, [...answers, ...response]);
    }

    // security-chap-response: the target accepted our CHAP_R; in mutual CHAP it proves itself now (§12.1.3) —
    // once: a target may send its CHAP_N/CHAP_R with T=0 and transit in a later response.
    if (this.chap!.mutual && !this.targetVerified && (keys.has('CHAP_N') || keys.has('CHAP_R') || pdu.transit)) {
      this.chap!.verify(keys);
      this.targetVerified = true;
    }
    if (!pdu.transit) return this.send(Stage.Security, Stage.Operational, true, answers);
    return this.enterOperational(pdu, answers);
  }

  private enterOperational(pdu: LoginResponse, answers: TextPair[]): LoginAction {
    this.csg = Stage.Operational;
    this.nsg = Stage.FullFeature;
    this.phase = 'operational';
    if (pdu.nsg === Stage.FullFeature) return this.complete(pdu);
    return this.send(Stage.Operational, Stage.FullFeature, true, [...answers, ...this.negotiator.offer()]);
  }

  private operational(pdu: LoginResponse, pairs: readonly TextPair[]): LoginAction {
    const stray = pairs.find(([k]) => SECURITY_KEYS.test(k));
    if (stray) throw new NegotiationError('ISCSI_NEGOTIATION_UNEXPECTED_KEY', `security key ${stray[0]} in the operational stage`, stray[0]);
    const answers = this.negotiator.receive(pairs);
    if (pdu.transit && answers.length === 0 && this.negotiator.complete) return this.complete(pdu);
    if (pdu.transit) throw protocol('target moved to full feature phase before negotiation finished');
    return this.send(Stage.Operational, Stage.FullFeature, true, answers);
  }

  private complete(pdu: LoginResponse): LoginAction {
    // §11.13.4: the final response of a new session's leading login carries the TSIH the target assigned.
    if (pdu.tsih === 0) throw protocol('final Login Response without a TSIH');
    if (this.tsih !== 0 && pdu.tsih !== this.tsih) throw protocol(`target changed TSIH ${this.tsih} to ${pdu.tsih} on reinstatement`);
    this.tsih = pdu.tsih;
    this.phase = 'done';
    const authenticated = this.targetAuthMethod === 'CHAP' ? (this.chap!.mutual ? 'Mutual CHAP' : 'CHAP') : 'None';
    return {
      kind: 'complete',
      result: {
        tsih: pdu.tsih,
        isid: this.config.isid,
        cid: this.cid,
        expStatSN: this.expStatSN,
        cmdSN: this.cmdSN,
        expCmdSN: pdu.expCmdSN,
        maxCmdSN: pdu.maxCmdSN,
        parameters: this.negotiator.result(),
        authenticated,
      },
    };
  }

  private redirect(pdu: LoginResponse): LoginAction {
    // §11.13.5: 0x0101 moved temporarily, 0x0102 moved permanently; TargetAddress says where (§13.8).
    if (pdu.statusDetail !== 1 && pdu.statusDetail !== 2) throw loginStatusError(pdu.statusClass, pdu.statusDetail);
    const pairs = this.assembler.push(pdu.data, false) ?? [];
    const address = pairs.find(([k]) => k === 'TargetAddress')?.[1];
    if (!address) throw missing('TargetAddress');
    this.phase = 'done';
    return { kind: 'redirect', portal: parsePortal(address), permanent: pdu.statusDetail === 2 };
  }

  private send(csg: Stage, nsg: Stage, transit: boolean, pairs: readonly TextPair[], continuation = false): LoginAction {
    // A conforming exchange needs a handful of round trips; a target that never concludes must not loop us forever.
    if (++this.exchanges > MAX_EXCHANGES) throw protocol(`no conclusion after ${MAX_EXCHANGES} login exchanges`);
    this.csg = csg;
    this.nsg = nsg;
    const text = encodeText(pairs);
    if (text.length <= LOGIN_SEGMENT_LIMIT) {
      if (!continuation) this.askedTransit = transit;
      return this.request(transit, false, text);
    }
    // §11.12.2: text longer than the target must accept during login (§13.12: 8192) goes in several requests with
    // C=1 and T=0; the target answers each with an empty response, and the last part carries our real T bit.
    const [first, ...rest] = splitText(text, LOGIN_SEGMENT_LIMIT);
    this.outgoing = { parts: rest, transit };
    this.askedTransit = false;
    return this.request(false, true, first!);
  }

  /** Sends the next part of text split over several Login Requests (the target answered the previous one). */
  private sendNextPart(pdu: LoginResponse): LoginAction {
    const out = this.outgoing!;
    if (pdu.data.length > 0 || pdu.continue || pdu.transit) throw protocol('target answered a continued Login Request with text (§11.12.2)');
    if (++this.exchanges > MAX_EXCHANGES) throw protocol(`no conclusion after ${MAX_EXCHANGES} login exchanges`);
    const part = out.parts.shift()!;
    if (out.parts.length > 0) return this.request(false, true, part);
    this.outgoing = undefined;
    this.askedTransit = out.transit;
    return this.request(out.transit, false, part);
  }

  private request(transit: boolean, more: boolean, data: Buffer): LoginAction {
    const pdu: LoginRequest = {
      opcode: Opcode.LoginRequest,
      immediate: true,
      transit,
      continue: more,
      csg: this.csg,
      nsg: transit ? this.nsg : Stage.Security,
      versionMax: 0,
      versionMin: 0,
      isid: this.config.isid,
      tsih: this.tsih,
      itt: this.itt,
      cid: this.cid,
      cmdSN: this.cmdSN,
      expStatSN: this.haveStatSN ? this.expStatSN : 0,
      data,
    };
    return { kind: 'send', pdu };
  }

}

function protocol(message: string): LoginError {
  return new LoginError('ISCSI_LOGIN_PROTOCOL', `login protocol error: ${message}`);
}

function missing(key: string): NegotiationError {
  return new NegotiationError('ISCSI_NEGOTIATION_MISSING_KEY', `target did not send ${key}`, key);
}
