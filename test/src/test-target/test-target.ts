/**
 * The test target: an iSCSI target in TypeScript on core's codec, RAM-backed, that misbehaves on cue.
 *
 * ```ts
 * await using target = await TestTarget.start({ targets: [{ luns: [{ size: '64M' }] }] });
 * const session = await IscsiSession.open({ portal: target.portal, targetName: target.targetName, … });
 * target.misbehave({ kind: 'busy', count: 2 });        // the next two commands get BUSY
 * await target.waitUntil((s) => s.logouts === 1);     // observe the initiator instead of sleeping
 * ```
 *
 * It listens on loopback (port 0 by default: the kernel picks a free one), serves many connections and sessions at
 * once, and keeps `stats` of what initiators sent. Everything it owns — sockets, timers, the server — ends with
 * `close()` (or `await using`). See docs/test-target.md for the behaviour in full.
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { ArgumentError, formatPortal, TransportError, type Portal } from '@iscsi-initiator/core';
import { TargetConnection, type TargetHost } from './connection.js';
import { loginFailure, LoginStatus, type LoginContext, type LoginOutcome, type LoginTarget } from './login.js';
import type { LogicalUnit } from './logical-unit.js';
import { MisbehaviourBook, isImmediate, type Armed, type Misbehaviour, type MisbehaviourHandle } from './misbehaviour.js';
import { checkAccount, checkInteger, DEFAULT_TARGET_NAME, isLoopback, type TestTargetOptions } from './options.js';
import { Recorder, type TargetEvent, type TargetStats } from './recorder.js';
import { Condition } from './sense.js';
import { nexusOf, TargetSession, type Task } from './session.js';
import { TargetEntry } from './target-entry.js';
import { ALL_CHAP_ALGORITHMS, type ChapSettings } from './chap.js';

/** A live session, as tests see it. */
export interface SessionInfo {
  readonly tsih: number;
  readonly isid: bigint;
  readonly initiatorName: string;
  readonly sessionType: 'Normal' | 'Discovery';
  readonly targetName: string | undefined;
  readonly connections: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** Commands accepted and not yet answered, and their ITTs. */
  readonly tasks: number;
  readonly taskTags: readonly number[];
}

export class TestTarget implements TargetHost, AsyncDisposable {
  readonly recorder = new Recorder();
  readonly book = new MisbehaviourBook();
  readonly entries: readonly TargetEntry[];
  readonly advertised: { readonly host: string; readonly port: number; readonly portalGroupTag: number };
  private readonly connections = new Map<number, TargetConnection>();
  private readonly sessions = new Map<number, TargetSession>();
  private readonly discoveryChap: ChapSettings | undefined;
  private nextConnectionId = 1;
  private nextTsih = 1;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly host: string,
    readonly port: number,
    entries: TargetEntry[],
    private readonly options: TestTargetOptions,
  ) {
    this.entries = entries;
    const portalGroupTag = checkInteger(options.portalGroupTag ?? 1, 0, 0xffff, 'portalGroupTag');
    const advertise = options.advertise;
    this.advertised = { host: advertise?.host ?? host, port: advertise?.port ?? port, portalGroupTag };
    const d = options.discoveryChap;
    this.discoveryChap = d ? { incoming: checkAccount(d.incoming, 'discovery'), outgoing: d.outgoing ? checkAccount(d.outgoing, 'discovery outgoing') : undefined, algorithms: ALL_CHAP_ALGORITHMS } : undefined;
  }

  /** Starts listening; rejects with ArgumentError on bad options, TransportError if the address cannot be bound. */
  static async start(options: TestTargetOptions = {}): Promise<TestTarget> {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopback(host) && !options.allowNonLoopback) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${host} is not a loopback address; pass allowNonLoopback to serve a RAM disk beyond this machine`);
    }
    const port = checkInteger(options.port ?? 0, 0, 0xffff, 'port');
    const targetOptions = options.targets ?? [{}];
    if (targetOptions.length === 0) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'a test target needs at least one target');
    const entries = targetOptions.map((t, i) => new TargetEntry(t, i === 0 ? DEFAULT_TARGET_NAME : `${DEFAULT_TARGET_NAME}-${i + 1}`));
    if (new Set(entries.map((e) => e.name)).size !== entries.length) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'target names must be distinct');
    if (options.initialStatSN !== undefined) checkInteger(options.initialStatSN, 0, 0xffffffff, 'initialStatSN');
    if (options.advertise !== undefined) {
      if (typeof options.advertise.host !== 'string' || options.advertise.host === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'advertise.host must be a host name or address');
      checkInteger(options.advertise.port, 1, 0xffff, 'advertise.port');
    }
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new TransportError('ISCSI_CONNECTION_FAILED', `the test target cannot listen on ${formatPortal({ host, port })}: ${e.code ?? e.message}`, { cause: e })),
      );
      server.listen({ host, port, exclusive: true }, () => resolve());
    });
    const bound = (server.address() as net.AddressInfo).port;
    const target = new TestTarget(server, host, bound, entries, options);
    server.on('error', () => {}); // after listen, errors come per connection
    server.on('connection', (socket) => target.accept(socket));
    return target;
  }

  /** Where to connect: `{ host, port }`, as IscsiSession.open takes it. */
  get portal(): Portal {
    return { host: this.host, port: this.port };
  }

  /** 'host:port' ('[::1]:port' for IPv6). */
  get address(): string {
    return formatPortal(this.portal);
  }

  /** The first target's name. */
  get targetName(): string {
    return this.entries[0]!.name;
  }

  get targetNames(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** libiscsi's URL for a LUN: iscsi://host:port/iqn/lun. */
  url(lun = 0, targetName = this.targetName): string {
    return `iscsi://${this.address}/${targetName}/${lun}`;
  }

  get stats(): TargetStats {
    return this.recorder.stats;
  }

  /** Every event from now on (PDUs, logins, violations, misbehaviours, …); returns the unsubscribe function. */
  on(listener: (event: TargetEvent) => void): () => void {
    return this.recorder.on(listener);
  }

  /** The next event `match` accepts; ISCSI_TIMEOUT after `timeoutMs`. */
  waitFor(match: (event: TargetEvent) => boolean, timeoutMs?: number): Promise<TargetEvent> {
    return this.recorder.waitFor(match, timeoutMs);
  }

  /** Resolves once `condition(stats)` holds (checked now and after each event); ISCSI_TIMEOUT after `timeoutMs`. */
  waitUntil(condition: (stats: TargetStats) => boolean, timeoutMs?: number): Promise<void> {
    return this.recorder.waitUntil(condition, timeoutMs);
  }

  /** Live sessions. */
  sessionList(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      tsih: s.tsih,
      isid: s.isid,
      initiatorName: s.initiatorName,
      sessionType: s.sessionType,
      targetName: s.target?.name,
      connections: s.connectionIds.size,
      expCmdSN: s.expCmdSN,
      maxCmdSN: s.maxCmdSN,
      tasks: s.tasks.size,
      taskTags: [...s.tasks.keys()],
    }));
  }

  /** Connections that reached the full feature phase and are still open. */
  get openConnections(): number {
    return [...this.connections.values()].filter((c) => c.fullFeature && !c.closed).length;
  }

  /** A logical unit, to prefill or inspect its RAM disk (`unit(0).disk.read(…)`). */
  unit(lun = 0, targetName = this.targetName): LogicalUnit {
    const unit = this.entry(targetName).units.get(lun);
    if (!unit) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${targetName} has no LUN ${lun}`);
    return unit;
  }

  /** Changes the command window of live Normal sessions: MaxCmdSN = ExpCmdSN + window - 1 (0 closes it, §4.2.2.1). */
  setCommandWindow(window: number): void {
    checkInteger(window, 0, 2 ** 31 - 1, 'window');
    for (const s of this.sessions.values()) if (s.sessionType === 'Normal') s.window = window;
  }

  /** Arms a misbehaviour (see misbehaviour.ts for every kind); returns a handle to watch or cancel it. */
  misbehave(spec: Misbehaviour): MisbehaviourHandle {
    checkMisbehaviour(spec);
    if (spec.target !== undefined) this.entry(spec.target);
    if (spec.kind === 'auth-change' && !this.entries.some((e) => e.chap && (spec.target === undefined || e.name === spec.target))) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'auth-change needs a target configured with CHAP');
    }
    const armed = this.book.arm(spec);
    if (spec.kind === 'auth-change') {
      this.changeSecret(armed as Armed<'auth-change'>);
      return armed;
    }
    if (isImmediate(spec)) {
      if (spec.kind === 'unit-attention') {
        const sessions = [...this.sessions.values()].filter((s) => s.target && armed.matches(s.target.name));
        for (const s of sessions) this.queueUnitAttention(armed as Armed<'unit-attention'>, s);
      } else {
        for (const c of this.connections.values()) {
          if (c.fullFeature && !c.closed && c.session?.target && armed.matches(c.targetName)) {
            armed.use();
            c.apply(armed);
          }
        }
      }
      this.book.retire(armed);
    }
    return armed;
  }

  /** Cancels every misbehaviour (stops NOP-In pings too). */
  calm(): void {
    this.book.cancelAll();
  }

  /** Closes every connection and the listener; idempotent, never rejects. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.book.cancelAll();
      for (const c of this.connections.values()) c.destroy();
      this.server.close(() => resolve());
    });
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- TargetHost -------------------------------------------------------------------------------------------

  initialStatSN(): number {
    return this.options.initialStatSN ?? randomInt(0, 0x7fffffff);
  }

  connectionById(id: number): TargetConnection | undefined {
    return this.connections.get(id);
  }

  loginContext(connection: TargetConnection): LoginContext {
    return {
      findTarget: (name) => this.entries.find((e) => e.name === name),
      discoveryChap: this.discoveryChap,
      portalGroupTag: this.advertised.portalGroupTag,
      joinable: (tsih, isid, initiatorName) => {
        const s = this.sessions.get(tsih);
        if (!s || s.isid !== isid || s.initiatorName !== initiatorName) {
          return loginFailure(LoginStatus.SessionDoesNotExist, `no session with TSIH ${tsih} for this initiator (RFC 7143 §11.13.5)`);
        }
        return { target: s.target, sessionType: s.sessionType, params: s.params };
      },
      redirect: (target: LoginTarget) => {
        const armed = this.book.take('redirect', target.name);
        if (!armed) return undefined;
        const to = armed.spec.to;
        return { address: typeof to === 'string' ? to : formatPortal(to, true), permanent: armed.spec.permanent ?? false };
      },
      admit: (outcome) => this.admit(connection, outcome),
    };
  }

  onFullFeature(connection: TargetConnection): void {
    for (const armed of this.book.pendingImmediate(connection.targetName)) {
      if (armed.spec.kind === 'unit-attention') {
        if (connection.session) this.queueUnitAttention(armed as Armed<'unit-attention'>, connection.session);
      } else if (connection.session?.target) {
        armed.use();
        connection.apply(armed);
      } else {
        continue; // discovery sessions get no misbehaviour meant for a target's connections
      }
      this.book.retire(armed);
    }
  }

  onClosed(connection: TargetConnection): void {
    this.connections.delete(connection.id);
    const session = connection.session;
    if (session) {
      session.connectionIds.delete(connection.id);
      this.abortTasks(session, session.tasksOn(undefined).filter((t) => t.connectionId === connection.id));
      if (session.connectionIds.size === 0 && this.sessions.get(session.tsih) === session) this.removeSession(session, false);
    }
    this.recorder.emit({ type: 'connection-closed', connection: connection.id, reason: connection.fullFeature ? 'closed' : 'closed during login' });
  }

  endSession(session: TargetSession, keepNexus: boolean): void {
    if (this.sessions.get(session.tsih) === session) this.removeSession(session, keepNexus);
    for (const id of [...session.connectionIds]) {
      const c = this.connections.get(id);
      session.connectionIds.delete(id);
      // The connection that carried a Logout is ending gracefully already; the others are cut.
      if (c && !c.closed && !c.socket.writableEnded) c.destroy();
    }
    this.abortTasks(session, session.tasksOn(undefined));
  }

  abortTasks(session: TargetSession, tasks: readonly Task[]): void {
    for (const task of tasks) {
      if (session.tasks.get(task.itt) === task) session.tasks.delete(task.itt);
      this.connections.get(task.connectionId)?.forget(task);
    }
  }

  /**
   * SAM-5 §5.9.7 logical unit reset: every task on the unit ends, and every I_T nexus — the issuer's too — gets UNIT
   * ATTENTION 29h/03h BUS DEVICE RESET FUNCTION OCCURRED (libiscsi's MultipathIO.Reset checks each path).
   */
  resetUnit(entry: TargetEntry, lun: number): void {
    for (const s of this.sessions.values()) if (s.target === entry) this.abortTasks(s, s.tasksOn(lun));
    entry.units.get(lun)?.queueUnitAttention(Condition.busDeviceReset);
  }

  /** A target reset is a logical unit reset of each unit (SAM-5 §5.9.6); a cold reset also closes every connection. */
  resetTarget(entry: TargetEntry, cold: boolean): void {
    for (const s of this.sessions.values()) if (s.target === entry) this.abortTasks(s, s.tasksOn(undefined));
    for (const unit of entry.units.values()) unit.queueUnitAttention(Condition.busDeviceReset);
    if (cold) for (const s of [...this.sessions.values()]) if (s.target === entry) this.endSession(s, false);
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const id = this.nextConnectionId++;
    const connection = new TargetConnection(this, socket, id);
    this.connections.set(id, connection);
    this.recorder.emit({ type: 'connection', connection: id });
  }

  private entry(name: string): TargetEntry {
    const entry = this.entries.find((e) => e.name === name);
    if (!entry) throw new ArgumentError('ISCSI_BAD_ARGUMENT', `no target named ${name}`);
    return entry;
  }

  /**
   * The end of a successful login: joins an existing session (TSIH ≠ 0, reinstating a connection with the same
   * CID) or creates one (TSIH 0), first ending any session of the same initiator, ISID and target (§6.3.5).
   */
  private admit(connection: TargetConnection, outcome: LoginOutcome): { tsih: number; expCmdSN: number; maxCmdSN: number } | ReturnType<typeof loginFailure> {
    const entry = outcome.target as TargetEntry | undefined;
    if (outcome.tsih !== 0) {
      const session = this.sessions.get(outcome.tsih);
      if (!session) return loginFailure(LoginStatus.SessionDoesNotExist, `session ${outcome.tsih} ended during login`);
      const old = [...session.connectionIds].map((id) => this.connections.get(id)).find((c) => c?.cid === outcome.cid);
      if (old) {
        // §6.3.4: connection reinstatement — the old connection with this CID ends, its tasks with it.
        session.connectionIds.delete(old.id);
        this.abortTasks(session, session.tasksOn(undefined).filter((t) => t.connectionId === old.id));
        old.destroy();
        this.recorder.emit({ type: 'reinstatement', connection: connection.id, tsih: session.tsih, scope: 'connection' });
      } else if (session.connectionIds.size >= session.params.maxConnections) {
        return loginFailure(LoginStatus.TooManyConnections, `session ${session.tsih} already has MaxConnections=${session.params.maxConnections}`);
      }
      connection.attach(session, outcome.cid);
      return { tsih: session.tsih, expCmdSN: session.expCmdSN, maxCmdSN: session.maxCmdSN };
    }
    let reinstated = false;
    for (const s of [...this.sessions.values()]) {
      if (s.initiatorName === outcome.initiatorName && s.isid === outcome.isid && s.target === entry && s.sessionType === outcome.sessionType) {
        // §6.3.5: a new leading login with this ISID and TSIH 0 ends the old session (same I_T nexus).
        this.endSession(s, true);
        reinstated = true;
        this.recorder.emit({ type: 'reinstatement', connection: connection.id, tsih: s.tsih, scope: 'session' });
      }
    }
    const tsih = this.allocateTsih();
    const window = entry ? entry.window : 8;
    const session = new TargetSession(tsih, outcome.isid, outcome.initiatorName, outcome.sessionType, entry, outcome.session, outcome.cmdSN, window);
    this.sessions.set(tsih, session);
    if (entry) {
      for (const unit of entry.units.values()) {
        if (!reinstated || !unit.hasNexus(session.nexus)) unit.addNexus(session.nexus, entry.unitAttentionOnLogin);
      }
    }
    connection.attach(session, outcome.cid);
    return { tsih, expCmdSN: session.expCmdSN, maxCmdSN: session.maxCmdSN };
  }

  private removeSession(session: TargetSession, keepNexus: boolean): void {
    this.sessions.delete(session.tsih);
    if (keepNexus || !session.target) return;
    // The I_T nexus is gone (unless another live session carries it): its next login is new and sees 29h/00h again.
    const nexus = nexusOf(session.initiatorName, session.isid);
    if ([...this.sessions.values()].some((s) => s.nexus === nexus && s.target === session.target)) return;
    for (const unit of session.target.units.values()) unit.removeNexus(nexus);
  }

  private allocateTsih(): number {
    // §11.12: TSIH 0 is reserved for "new session"; 16 bits, skipping those in use.
    for (;;) {
      const tsih = this.nextTsih;
      this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
      if (!this.sessions.has(tsih)) return tsih;
    }
  }

  private queueUnitAttention(armed: Armed<'unit-attention'>, session: TargetSession): void {
    const entry = session.target;
    if (!entry) return;
    const { asc = 0x29, ascq = 0x00, lun } = armed.spec;
    const condition = { ...Condition.powerOnReset, asc, ascq };
    const units = lun === undefined ? [...entry.units.values()] : [entry.units.get(lun)].filter((u) => u !== undefined);
    for (const unit of units) unit.queueUnitAttention(condition, (nexus) => nexus === session.nexus);
    armed.use();
    this.recorder.emit({ type: 'misbehaviour', connection: undefined, kind: 'unit-attention', detail: `${asc.toString(16)}h/${ascq.toString(16)}h queued for TSIH ${session.tsih}` });
  }

  private changeSecret(armed: Armed<'auth-change'>): void {
    const { secret, user } = armed.spec;
    for (const entry of this.entries) {
      if (!armed.matches(entry.name) || !entry.chap) continue;
      entry.chap = { ...entry.chap, incoming: checkAccount({ user: user ?? entry.chap.incoming.user, secret }, 'incoming') };
      armed.use();
      this.recorder.emit({ type: 'misbehaviour', connection: undefined, kind: 'auth-change', detail: `CHAP secret of ${entry.name} changed` });
    }
    this.book.retire(armed);
  }
}

const KINDS: ReadonlySet<string> = new Set([
  'garbage', 'wrong-datasn', 'oversized-segment', 'reject', 'slow-r2t', 'nop-ping', 'async-logout', 'async-drop',
  'redirect', 'drop', 'stall', 'busy', 'auth-change', 'unit-attention',
]);

/** ArgumentError for a misbehaviour a test got wrong, before anything is armed. */
function checkMisbehaviour(spec: Misbehaviour): void {
  if (spec === null || typeof spec !== 'object' || !KINDS.has(spec.kind)) {
    throw new ArgumentError('ISCSI_BAD_ARGUMENT', `unknown misbehaviour ${JSON.stringify((spec as { kind?: unknown } | null)?.kind)}`);
  }
  const nonNegative = (value: unknown, what: string, min = 0) => {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min)) {
      throw new ArgumentError('ISCSI_BAD_ARGUMENT', `${spec.kind}: ${what} must be a number ≥ ${min}`);
    }
  };
  switch (spec.kind) {
    case 'slow-r2t':
      nonNegative(spec.delayMs ?? -1, 'delayMs');
      break;
    case 'nop-ping':
      nonNegative(spec.intervalMs ?? 0, 'intervalMs', 1);
      nonNegative(spec.missLimit, 'missLimit', 1);
      break;
    case 'redirect':
      if (typeof spec.to !== 'string' && (typeof spec.to !== 'object' || spec.to === null)) throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'redirect needs `to`');
      break;
    case 'auth-change':
      if (typeof spec.secret !== 'string' || spec.secret === '') throw new ArgumentError('ISCSI_BAD_ARGUMENT', 'auth-change needs a non-empty secret');
      break;
    case 'garbage':
      nonNegative(spec.bytes, 'bytes', 1);
      break;
    case 'busy':
      nonNegative(spec.count, 'count', 1);
      break;
    default:
      break;
  }
}
