/**
 * Target 3: the LoginStateMachine driven by Login Responses (RFC 7143 §6, §11.13, §12.1.3). A scripted, I/O-free
 * target answers every request correctly — AuthMethod None, CHAP or mutual CHAP, operational keys under their result
 * functions, text split over continuations (C bit), deferred transits — and one of its responses is mutated (header
 * fields, C/T bits, stages, status, key text), so the fuzzer reaches deep states rather than the first check.
 *
 * The stored input is the exact Login Responses delivered (PDU bytes); the machine is deterministic given them and
 * the seed of its CHAP random bytes, so a replay needs nothing else. Oracles, beyond "only IscsiError escapes":
 * the machine is 'failed' after a throw and refuses anything after it ended; every request it sends is encodable,
 * fits the 8192-byte login MaxRecvDataSegmentLength (§13.12), and carries our ITT/ISID; it concludes within its
 * exchange bound; a completed login has a TSIH and parameters within the §13 rules; an unmutated conversation
 * completes with exactly the parameters the target chose.
 */

import { createHash } from 'node:crypto';
import type { LoginConfig, LoginRequest, LoginResponse, OperationalProposal, Pdu, TextPair } from '../../src/index.js';
import { Finding, checkTyped, typedOutcome, type Core, type FuzzCase, type FuzzTarget } from './engine.js';
import { EDGE_VALUES, answerOffer, checkViolations, mutatePairs, mutateTextBytes, parameterMismatches, parameterViolations, randomPairs, randomProposal } from './keys.js';
import { Rng } from './prng.js';

type Auth = 'none' | 'chap' | 'mutual';

interface LoginMeta {
  auth: Auth;
  sessionType: 'Normal' | 'Discovery';
  proposal: OperationalProposal;
  algorithms: number[];
  chapSeed: number;
  isid: string;
  itt: number;
  cmdSN: number;
  /** Index of the mutated response, or -1 for a conforming conversation. */
  mutated: number;
  mutation: string;
  /** For a conforming conversation: how it must end. */
  expect: { kind: 'complete' | 'redirect'; parameters: Record<string, unknown> } | null;
}

const INITIATOR_NAME = 'iqn.2026-11.io.github.iscsi-initiator:fuzz';
const TARGET_NAME = 'iqn.2026-11.io.example:fuzz-target';
const USER = 'fuzz-user';
const SECRET = Buffer.from('initiator-secret-0123');
const TARGET_USER = 'fuzz-target';
const TARGET_SECRET = Buffer.from('target-secret-456789');

function configOf(m: LoginMeta): LoginConfig {
  const chapRng = new Rng(m.chapSeed);
  const chap = {
    credentials: { username: USER, secret: SECRET },
    ...(m.auth === 'mutual' ? { targetCredentials: { username: TARGET_USER, secret: TARGET_SECRET } } : {}),
    algorithms: m.algorithms,
    randomBytes: (n: number) => chapRng.bytes(n),
  };
  return {
    initiatorName: INITIATOR_NAME,
    sessionType: m.sessionType,
    targetName: m.sessionType === 'Normal' ? TARGET_NAME : undefined,
    isid: BigInt(m.isid),
    itt: m.itt,
    cmdSN: m.cmdSN,
    auth: m.auth === 'none' ? { method: 'None' } : { method: 'CHAP', chap },
    proposal: m.proposal,
  };
}

/**
 * A conforming target's side of the login, one response per request. It reads what the initiator sent, so after a
 * mutation it still answers sensibly where it can (and gives up, ending the conversation, where it cannot).
 */
class ScriptedLoginTarget {
  readonly #core: Core;
  readonly #r: Rng;
  readonly #m: LoginMeta;
  #statSN: number;
  readonly #tsih: number;
  /** Text still to deliver over continuations (C=1), and the header of the response it belongs to. */
  #pending: Buffer[] = [];
  #pendingHeader: { transit: boolean; nsg: 0 | 1 | 3; final: boolean } | undefined;
  #chap: { algorithm: number; identifier: number; challenge: Buffer } | undefined;
  /** Operational answers not yet sent (a target may spread them over responses). */
  #later: TextPair[] | undefined;
  #offeredExtension = false;
  #tpgt: number | undefined;
  expected: Record<string, unknown> | undefined;

  constructor(core: Core, r: Rng, m: LoginMeta) {
    this.#core = core;
    this.#r = r;
    this.#m = m;
    this.#statSN = r.interestingU32();
    this.#tsih = r.range(1, 0xffff);
  }

  answer(req: LoginRequest): LoginResponse {
    const r = this.#r;
    if (this.#pending.length > 0) {
      // An empty request asks for the rest of our text (§11.12.2, §6.1).
      const part = this.#pending.shift()!;
      const more = this.#pending.length > 0;
      const h = this.#pendingHeader!;
      return this.#response(req, { transit: more ? false : h.transit, cont: more, nsg: more ? 0 : h.nsg, final: !more && h.final, data: part });
    }
    const keys = new Map(this.#core.decodeText(req.data));
    let pairs: TextPair[] = [];
    let transit = req.transit;
    let nsg: 0 | 1 | 3 = req.transit ? req.nsg : 0;
    if (req.csg === 0) {
      if (keys.has('AuthMethod')) {
        if (this.#m.auth === 'none') {
          if (req.transit && r.bool(0.15)) transit = false; // not ready yet: the initiator asks again
          // §6.3: a target that moves on without authentication may leave out the AuthMethod answer.
          if (!(transit && r.bool(0.1))) pairs.push(['AuthMethod', 'None']);
        } else {
          pairs.push(['AuthMethod', 'CHAP']);
          transit = false;
        }
        if (r.bool(0.5)) {
          // §13.9: the portal group tag comes once, in the first response that carries text.
          this.#tpgt = r.int(65536);
          pairs.push(['TargetPortalGroupTag', String(this.#tpgt)]);
        }
      } else if (keys.has('CHAP_A')) {
        // §12.1.3: pick one algorithm we were offered, send CHAP_I and a challenge (hex or base64).
        const algorithm = r.pick(keys.get('CHAP_A')!.split(',').map(Number));
        const identifier = r.int(256);
        const challenge = r.bytes(r.weighted<number>([[8, 16], [3, r.range(1, 64)], [1, 1024]]));
        this.#chap = { algorithm, identifier, challenge };
        pairs.push(['CHAP_A', String(algorithm)], ['CHAP_I', String(identifier)], ['CHAP_C', this.#core.encodeBinaryValue(challenge, r.bool(0.7) ? 'hex' : 'base64')]);
        transit = false;
      } else if (keys.has('CHAP_R') && this.#chap !== undefined) {
        const { algorithm, identifier, challenge } = this.#chap;
        const want = rfc1994Response(algorithm, identifier, SECRET, challenge);
        if (keys.get('CHAP_N') !== USER || !this.#core.decodeBinaryValue(keys.get('CHAP_R')!).equals(want)) {
          return this.#response(req, { transit: false, cont: false, nsg: 0, final: false, data: Buffer.alloc(0), status: 0x0201 });
        }
        if (this.#m.auth === 'mutual') {
          // The initiator's own challenge, answered with the target secret (mutual CHAP, §12.1.3).
          const theirs = rfc1994Response(algorithm, Number(keys.get('CHAP_I')), TARGET_SECRET, this.#core.decodeBinaryValue(keys.get('CHAP_C') ?? '0x00'));
          pairs.push(['CHAP_N', TARGET_USER], ['CHAP_R', this.#core.encodeBinaryValue(theirs)]);
        }
        // Authenticated, but not ready to move on yet (T=0): the initiator asks again with T=1 (§11.13.3).
        if (req.transit && r.bool(0.1)) transit = false;
      }
      if (transit) nsg = 1;
    } else {
      if (this.#later === undefined) {
        const answer = answerOffer(r, [...keys], this.#m.sessionType);
        this.expected = answer.expected as Record<string, unknown>;
        pairs = answer.pairs;
        if (this.#tpgt !== undefined) {
          pairs = pairs.filter(([k]) => k !== 'TargetPortalGroupTag');
          this.expected.targetPortalGroupTag = this.#tpgt;
        }
        this.#later = [];
        if (pairs.length > 1 && r.bool(0.2)) {
          // Not ready to transit: half the answers now, the rest in the next response (§6.2).
          this.#later = pairs.splice(r.range(1, pairs.length - 1));
          transit = false;
        }
        if (!this.#offeredExtension && r.bool(0.1)) {
          // A key of our own the initiator does not know: it must answer NotUnderstood (§6.2), then we conclude.
          this.#offeredExtension = true;
          pairs.push(['X-io.example.fuzz', 'on']);
          transit = false;
        }
      } else {
        pairs = this.#later;
        this.#later = [];
      }
      nsg = transit ? 3 : 0;
    }
    const final = transit && nsg === 3;
    let data = this.#core.encodeText(pairs);
    if (data.length > 1 && r.bool(0.15)) {
      // §6.1: a text may span PDUs; all but the last carry C=1 and T=0.
      const cut = r.range(1, data.length - 1);
      this.#pending = [data.subarray(cut)];
      this.#pendingHeader = { transit, nsg, final };
      data = data.subarray(0, cut);
      return this.#response(req, { transit: false, cont: true, nsg: 0, final: false, data });
    }
    return this.#response(req, { transit, cont: false, nsg, final, data });
  }

  #response(req: LoginRequest, f: { transit: boolean; cont: boolean; nsg: 0 | 1 | 3; final: boolean; data: Buffer; status?: number }): LoginResponse {
    const statSN = this.#statSN;
    this.#statSN = (this.#statSN + 1) >>> 0;
    return {
      opcode: this.#core.Opcode.LoginResponse,
      transit: f.transit,
      continue: f.cont,
      csg: req.csg,
      nsg: f.nsg,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      // §11.13.4: the TSIH travels in the final response.
      tsih: f.final ? this.#tsih : 0,
      itt: req.itt,
      statSN,
      expCmdSN: req.cmdSN,
      maxCmdSN: (req.cmdSN + 15) >>> 0,
      statusClass: (f.status ?? 0) >> 8,
      statusDetail: (f.status ?? 0) & 0xff,
      data: f.data,
    };
  }
}

/** A §11.13.5 status worth sending: redirections, initiator and target errors, reserved classes. */
function randomStatus(r: Rng): number {
  return r.pick([0x0001, 0x0100, 0x0101, 0x0102, 0x0103, 0x0200, 0x0201, 0x0202, 0x0203, 0x0204, 0x0205, 0x0206, 0x0207, 0x0208, 0x0209, 0x020a, 0x020b, 0x020c, 0x0300, 0x0301, 0x0302, 0x0303, 0x0400, 0xffff, r.int(0x10000)]);
}

/** One change to a Login Response; returns its name for the case's metadata. Always encodable. */
function mutateResponse(r: Rng, core: Core, res: LoginResponse): { res: LoginResponse; name: string } {
  const stage = () => r.pick([0, 1, 3] as const);
  const textOf = (edit: (pairs: TextPair[]) => TextPair[]): Buffer => {
    let pairs: TextPair[];
    try {
      pairs = core.decodeText(res.data);
    } catch {
      pairs = [];
    }
    pairs = edit(pairs);
    try {
      return core.encodeText(pairs);
    } catch {
      return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
    }
  };
  const name = r.weighted<string>([
    [3, 'transit'],
    [3, 'continue'],
    [2, 'csg'],
    [3, 'nsg'],
    [1, 'version'],
    [2, 'isid'],
    [2, 'tsih'],
    [2, 'itt'],
    [2, 'statSN'],
    [1, 'window'],
    [4, 'status'],
    [2, 'redirect'],
    [10, 'pairs'],
    [3, 'pairs-many'],
    [4, 'text-bytes'],
    [1, 'text-random'],
    [1, 'text-huge'],
  ]);
  switch (name) {
    case 'transit': {
      const transit = !res.transit;
      return { res: { ...res, transit, continue: transit ? false : res.continue, nsg: transit ? stage() : res.nsg }, name };
    }
    case 'continue': {
      const cont = !res.continue;
      return { res: { ...res, continue: cont, transit: cont ? false : res.transit }, name };
    }
    case 'csg':
      return { res: { ...res, csg: stage() }, name };
    case 'nsg':
      return { res: { ...res, nsg: stage() }, name };
    case 'version': {
      const versionMax = r.pick([0, 1, 2, 0xff]);
      return { res: { ...res, versionMax, versionActive: r.range(0, versionMax) }, name };
    }
    case 'isid':
      return { res: { ...res, isid: r.pick([0n, res.isid ^ 1n, 0xffffffffffffn]) }, name };
    case 'tsih':
      return { res: { ...res, tsih: r.pick([0, 1, 0xffff, (res.tsih + 1) & 0xffff]) }, name };
    case 'itt':
      return { res: { ...res, itt: r.pick([(res.itt + 1) >>> 0, 0xffffffff, r.u32()]) }, name };
    case 'statSN':
      return { res: { ...res, statSN: r.interestingU32() }, name };
    case 'window':
      return { res: { ...res, expCmdSN: r.interestingU32(), maxCmdSN: r.interestingU32() }, name };
    case 'status': {
      const status = randomStatus(r);
      return { res: { ...res, statusClass: status >> 8, statusDetail: status & 0xff }, name };
    }
    case 'redirect': {
      // §11.13.5, §13.8: moved temporarily or permanently, with a TargetAddress (or a broken or missing one).
      const address = r.pick(['10.0.0.2:3260,1', '[fe80::1]:3261,2', 'target.example', 'host:0', 'host:65536', '[::1', '', ',', 'a,b,c', 'x'.repeat(300)]);
      const data = r.bool(0.85) ? Buffer.from(`TargetAddress=${address}\0`, 'utf8') : Buffer.alloc(0);
      return { res: { ...res, statusClass: 1, statusDetail: r.pick([1, 2, 3]), data }, name };
    }
    case 'pairs':
      return { res: { ...res, data: textOf((p) => mutatePairs(r, p)) }, name };
    case 'pairs-many':
      return {
        res: {
          ...res,
          data: textOf((p) => {
            let out = p;
            for (let i = r.range(2, 6); i > 0; i--) out = mutatePairs(r, out);
            return out;
          }),
        },
        name,
      };
    case 'text-bytes':
      return { res: { ...res, data: mutateTextBytes(r, res.data) }, name };
    case 'text-random':
      return { res: { ...res, data: r.bool(0.5) ? r.bytes(r.int(200)) : textOf(() => randomPairs(r)) }, name };
    case 'text-huge': {
      // Many keys the initiator must answer NotUnderstood: its reply must still fit a login PDU (§13.12).
      const pairs: TextPair[] = Array.from({ length: r.range(100, 400) }, (_, i) => [`X-io.example.k${i}`, r.pick(EDGE_VALUES.slice(0, 20))]);
      return { res: { ...res, data: textOf((p) => [...p, ...pairs]) }, name };
    }
    default:
      return { res, name: 'none' };
  }
}

export function loginTarget(core: Core): FuzzTarget {
  const framerOptions = { accept: 'target' as const, maxRecvDataSegmentLength: 0xffffff };

  function generate(r: Rng): FuzzCase {
    const auth = r.weighted<Auth>([
      [4, 'none'],
      [3, 'chap'],
      [3, 'mutual'],
    ]);
    const meta: LoginMeta = {
      auth,
      sessionType: r.bool(0.8) ? 'Normal' : 'Discovery',
      proposal: randomProposal(r),
      algorithms: r.pick([[5], [5], [7, 5], [8, 7, 6, 5]]),
      chapSeed: r.u32(),
      isid: String(BigInt(r.bytes(6).readUIntBE(0, 6))),
      itt: r.bool(0.7) ? 0 : r.u32() >>> 1,
      cmdSN: r.interestingU32(),
      mutated: r.bool(0.12) ? -1 : r.int(auth === 'none' ? 4 : 6),
      mutation: 'none',
      expect: null,
    };
    const target = new ScriptedLoginTarget(core, r.fork(), meta);
    const machine = new core.LoginStateMachine(configOf(meta));
    const responses: Buffer[] = [];
    let action;
    try {
      action = machine.start();
    } catch {
      action = undefined;
    }
    let redirected = false;
    // Sometimes a second response is mutated too, a few steps later: the machine's state after surviving the first.
    const second = meta.mutated >= 0 && r.bool(0.15) ? meta.mutated + r.range(1, 3) : -1;
    for (let step = 0; action?.kind === 'send' && step < 80; step++) {
      let res: LoginResponse;
      try {
        res = target.answer(action.pdu);
      } catch {
        break; // the script cannot make sense of a request after a mutation: the conversation ends here
      }
      if (step === meta.mutated || step === second) {
        const m = mutateResponse(r, core, res);
        res = m.res;
        meta.mutation = step === second ? `${meta.mutation}+${m.name}` : m.name;
      } else if (meta.mutated < 0 && step === 0 && r.bool(0.05)) {
        // A conforming redirection (§11.13.5): the login ends there.
        res = { ...res, statusClass: 1, statusDetail: r.pick([1, 2]), transit: false, nsg: 0, data: Buffer.from('TargetAddress=10.9.8.7:3260,1\0') };
        redirected = true;
      }
      responses.push(core.encodePduToBuffer(res, core.NO_DIGESTS));
      try {
        action = machine.receive(res);
      } catch {
        break;
      }
    }
    if (meta.mutated >= responses.length) meta.mutated = -1; // the conversation ended before the chosen response
    if (meta.mutated < 0) meta.expect = { kind: redirected ? 'redirect' : 'complete', parameters: target.expected ?? {} };
    return { target: 'login', meta: meta as unknown as Record<string, unknown>, payload: Buffer.concat(responses) };
  }

  function run(c: FuzzCase): string {
    const m = c.meta as unknown as LoginMeta;
    const config = configOf(m);
    // Frame the stored responses as the connection would; a response the framer refuses ends the login there.
    const framer = new core.PduFramer(framerOptions);
    const pdus: Pdu[] = [];
    let framingError: string | undefined;
    try {
      pdus.push(...framer.push(c.payload));
      for (let more = framer.push(Buffer.alloc(0)); more.length > 0; more = framer.push(Buffer.alloc(0))) pdus.push(...more);
    } catch (e) {
      checkTyped(core, 'PduFramer', e, core.ProtocolError);
      framingError = (e as { code: string }).code;
    }
    const machine = new core.LoginStateMachine(config);
    const first = machine.start();
    if (first.kind !== 'send') throw new Finding('login did not start with a request');
    checkRequest(first.pdu, config);
    let outcome = framingError ?? 'no-conclusion';
    let ended: 'complete' | 'redirect' | 'error' | undefined;
    let exchanges = 1;
    let i = 0;
    for (; i < pdus.length && ended === undefined; i++) {
      const pdu = pdus[i]!;
      if (pdu.opcode !== core.Opcode.LoginResponse) throw new Finding('the framer produced a non-Login Response from Login Response bytes');
      const step = typedOutcome(core, 'LoginStateMachine.receive', () => machine.receive(pdu));
      if (!step.ok) {
        if (machine.state !== 'failed') throw new Finding(`after throwing ${step.error.code} the machine is in state ${machine.state}, not failed`);
        ended = 'error';
        outcome = step.error.code;
        if (m.expect !== null) {
          // Mutual CHAP whose target answered CHAP_N/CHAP_R with T=0: the next response runs verify() a second time.
          const deferredMutual = m.auth === 'mutual' && step.error instanceof core.AuthError && step.error.code === 'ISCSI_LOGIN_PROTOCOL';
          throw new Finding(`a conforming conversation failed at response ${i}: ${step.error.code}: ${step.error.message}`, deferredMutual ? { known: 'mutual-chap-deferred-transit' } : {});
        }
        break;
      }
      const action = step.value;
      if (action.kind === 'send') {
        checkRequest(action.pdu, config);
        // MAX_EXCHANGES (64) bounds a target that never concludes; a few more here is slack, not a licence.
        if (++exchanges > 70) throw new Finding(`no conclusion after ${exchanges} exchanges: the exchange bound does not hold`);
      } else if (action.kind === 'complete') {
        ended = 'complete';
        outcome = 'complete';
        const p = action.result.parameters;
        if (action.result.tsih === 0) throw new Finding('login completed with TSIH 0 (§11.13.4)');
        const offered = new Set(new core.Negotiator(m.sessionType, m.proposal).offer().map(([k]) => k));
        checkViolations(parameterViolations(p, m.proposal, offered), 'a completed login\'s parameters');
        if (m.expect !== null) {
          const mismatches = parameterMismatches(p, m.expect.parameters);
          if (mismatches.length > 0) throw new Finding(`a conforming login negotiated other values: ${mismatches.join('; ')}`);
        }
      } else {
        ended = 'redirect';
        outcome = 'redirect';
        if (typeof action.portal.host !== 'string' || !Number.isInteger(action.portal.port)) throw new Finding('redirect to a malformed portal');
      }
    }
    if (ended === 'complete' || ended === 'redirect' || ended === 'error') {
      // An ended login answers nothing more (a late or duplicated response), with a typed error.
      const late = pdus[i] ?? pdus[0];
      if (late !== undefined && late.opcode === core.Opcode.LoginResponse) {
        const after = typedOutcome(core, 'LoginStateMachine.receive after the end', () => machine.receive(late));
        if (after.ok) throw new Finding(`the machine accepted a Login Response after it ${ended === 'error' ? 'failed' : 'ended'}`);
      }
    }
    if (m.expect !== null && ended !== m.expect.kind) throw new Finding(`a conforming conversation ended ${ended ?? 'without a conclusion'}, not ${m.expect.kind}`);
    return outcome;
  }

  function checkRequest(pdu: LoginRequest, config: LoginConfig): void {
    if (pdu.opcode !== core.Opcode.LoginRequest) throw new Finding('the login sent something other than a Login Request');
    if (pdu.itt !== (config.itt ?? 0) || pdu.isid !== config.isid) throw new Finding('a Login Request with another ITT or ISID');
    if (pdu.transit && pdu.continue) throw new Finding('a Login Request with T and C both set (§11.12.2)');
    const encoded = typedOutcome(core, 'encodePdu(LoginRequest)', () => core.encodePduToBuffer(pdu, core.NO_DIGESTS));
    if (!encoded.ok) throw new Finding(`the login produced an unencodable request: ${encoded.error.message}`);
    // §13.12: until the login ends, the target accepts data segments of at most 8192 bytes.
    if (pdu.data.length > 8192) {
      throw new Finding(`a Login Request with ${pdu.data.length} bytes of text: over the 8192 a target must accept during login (§13.12)`, {
        known: 'login-request-over-8192',
      });
    }
  }

  return { name: 'login', generate, run };
}

/**
 * RFC 1994 §4.1: Response = H(Identifier ‖ secret ‖ Challenge). The simulated target computes it itself with node:crypto:
 * a target that used core's chapResponse would agree with any mistake in it.
 */
function rfc1994Response(algorithm: number, identifier: number, secret: Buffer, challenge: Buffer): Buffer {
  const hash = ({ 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' } as Record<number, string>)[algorithm];
  if (hash === undefined) throw new Finding(`the initiator offered CHAP_A ${algorithm}, which it does not implement`);
  return createHash(hash).update(Buffer.of(identifier)).update(secret).update(challenge).digest();
}
