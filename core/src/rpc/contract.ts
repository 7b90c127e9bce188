/**
 * iscsid's JSON-RPC contract as code (docs/api.md is checked against it by a test): every method with its params, its
 * result and whether it changes state; the notifications; the error codes. The daemon registers its handlers through
 * it and the client's `call` is typed by it. No imports but types: a client bundle pays only for this table.
 */
import type { IscsiErrorCode } from '../errors.js';
import type {
  DiscoveryResult,
  HbaStats,
  InitiatorInfo,
  LunInfo,
  NodeRecord,
  NodeStatus,
  SessionDetails,
  SessionInfo,
  SessionLunsChange,
  SessionStateChange,
  SessionStats,
  VersionInfo,
} from './types.js';

/** Bumped whenever a method, parameter or result changes incompatibly; additions do not bump it (docs/api.md). */
export const RPC_PROTOCOL_VERSION = 1;

/** One message (one line) at most; a peer sending more is cut off. */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** JSON-RPC 2.0 §5.1 error codes, and ours in the "server error" range; `data.code` says which IscsiErrorCode. */
export const JSONRPC_ERRORS = Object.freeze({
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** An iSCSI, SCSI, transport or secret-store failure. */
  iscsiError: -32000,
  /** A mutating call from a peer that may only read. */
  notPermitted: -32001,
});

/**
 * Every `data.code` a client can meet: the engine's codes pass through the daemon unchanged. Typed as a record over
 * IscsiErrorCode so adding a code to core/src/errors.ts without adding it here does not compile.
 */
const ERROR_CODES: Record<IscsiErrorCode, true> = {
  ISCSI_PDU_TRUNCATED: true,
  ISCSI_PDU_UNKNOWN_OPCODE: true,
  ISCSI_PDU_BAD_FIELD: true,
  ISCSI_PDU_SEGMENT_TOO_LONG: true,
  ISCSI_PDU_HEADER_DIGEST: true,
  ISCSI_PDU_DATA_DIGEST: true,
  ISCSI_PDU_UNEXPECTED: true,
  ISCSI_TEXT_MALFORMED: true,
  ISCSI_TEXT_TOO_LONG: true,
  ISCSI_NEGOTIATION_DUPLICATE_KEY: true,
  ISCSI_NEGOTIATION_MISSING_KEY: true,
  ISCSI_NEGOTIATION_BAD_VALUE: true,
  ISCSI_NEGOTIATION_REJECTED: true,
  ISCSI_NEGOTIATION_UNEXPECTED_KEY: true,
  ISCSI_LOGIN_PROTOCOL: true,
  ISCSI_LOGIN_REDIRECT_LOOP: true,
  ISCSI_LOGIN_INITIATOR_ERROR: true,
  ISCSI_LOGIN_AUTH_FAILED: true,
  ISCSI_LOGIN_AUTHORIZATION_FAILED: true,
  ISCSI_LOGIN_TARGET_NOT_FOUND: true,
  ISCSI_LOGIN_TARGET_REMOVED: true,
  ISCSI_LOGIN_UNSUPPORTED_VERSION: true,
  ISCSI_LOGIN_TOO_MANY_CONNECTIONS: true,
  ISCSI_LOGIN_MISSING_PARAMETER: true,
  ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION: true,
  ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED: true,
  ISCSI_LOGIN_SESSION_DOES_NOT_EXIST: true,
  ISCSI_LOGIN_INVALID_DURING_LOGIN: true,
  ISCSI_LOGIN_TARGET_ERROR: true,
  ISCSI_LOGIN_SERVICE_UNAVAILABLE: true,
  ISCSI_LOGIN_OUT_OF_RESOURCES: true,
  ISCSI_CHAP_UNSUPPORTED_ALGORITHM: true,
  ISCSI_CHAP_BAD_VALUE: true,
  ISCSI_CHAP_TARGET_AUTH_FAILED: true,
  ISCSI_CHAP_REFLECTED_CHALLENGE: true,
  ISCSI_CHAP_SAME_SECRET: true,
  ISCSI_CHAP_MISSING_CREDENTIALS: true,
  ISCSI_CONNECTION_REFUSED: true,
  ISCSI_CONNECTION_CLOSED: true,
  ISCSI_CONNECTION_FAILED: true,
  ISCSI_HOST_NOT_FOUND: true,
  ISCSI_TIMEOUT: true,
  ISCSI_LOGIN_TIMEOUT: true,
  ISCSI_LOGOUT_TIMEOUT: true,
  ISCSI_NOP_TIMEOUT: true,
  ISCSI_COMMAND_TIMEOUT: true,
  ISCSI_TMF_TIMEOUT: true,
  ISCSI_REPLACEMENT_TIMEOUT: true,
  ISCSI_RECOVERY_NO_PROGRESS: true,
  ISCSI_SESSION_CLOSED: true,
  ISCSI_LOGOUT_FAILED: true,
  ISCSI_REJECT: true,
  ISCSI_TASK_ABORTED: true,
  ISCSI_TMF_FAILED: true,
  ISCSI_QUEUE_FULL: true,
  ISCSI_NOT_PERMITTED: true,
  ISCSI_DAEMON_NOT_RUNNING: true,
  ISCSI_DAEMON_NOT_TRUSTED: true,
  ISCSI_DAEMON_ALREADY_RUNNING: true,
  ISCSI_SESSION_EXISTS: true,
  ISCSI_SESSION_NOT_FOUND: true,
  ISCSI_NODE_NOT_FOUND: true,
  ISCSI_SECRET_NOT_FOUND: true,
  ISCSI_INTERNAL: true,
  ISCSI_HBA_PROTOCOL: true,
  ISCSI_VOLUME_BUSY: true,
  ISCSI_STORAGE_FULL: true,
  ISCSI_STORAGE_FAILED: true,
  ISCSI_STORAGE_UNSAFE: true,
  ISCSI_SCSI_CHECK_CONDITION: true,
  ISCSI_SCSI_STATUS: true,
  ISCSI_SCSI_RESPONSE: true,
  ISCSI_SCSI_BAD_DATA: true,
  ISCSI_BAD_URL: true,
  ISCSI_BAD_ARGUMENT: true,
};
export const RPC_ERROR_CODES = Object.freeze(Object.keys(ERROR_CODES) as IscsiErrorCode[]);

/**
 * What a parameter may hold. `string`: a non-empty string; `text`: any string, '' included; `sid`: a positive
 * integer; `kind`: a secret kind; `true`: the literal true; `boolean`: true or false. A trailing `?` makes it optional.
 */
export type ParamKind = 'string' | 'string?' | 'text' | 'text?' | 'sid' | 'sid?' | 'kind' | 'true?' | 'boolean?';

interface ParamTypes {
  string: string;
  'string?': string;
  text: string;
  'text?': string;
  sid: number;
  'sid?': number;
  kind: 'password' | 'password_in';
  'true?': true;
  'boolean?': boolean;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ParamsFrom<S extends Record<string, ParamKind>> = Simplify<
  { [K in keyof S as S[K] extends `${string}?` ? never : K]: ParamTypes[S[K]] } & { [K in keyof S as S[K] extends `${string}?` ? K : never]?: ParamTypes[S[K]] }
>;

/** The names of every field of T, each exactly once: a result's field list cannot drift from its type. */
function fieldsOf<T>() {
  return <const K extends ReadonlyArray<keyof T & string>>(...keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : never)): K => keys;
}

interface MethodSpec {
  /** Changes state: only authorized peers may call it (docs/security.md). */
  readonly mutating: boolean;
  readonly params: Readonly<Record<string, ParamKind>>;
  /** The result's top-level fields (an array result: its elements' fields). */
  readonly result: readonly string[];
}

const NODE_FIELDS = fieldsOf<NodeRecord>()('targetName', 'portal', 'portalGroupTag', 'settings', 'discoveredAt', 'discoveredVia');
const SESSION_FIELDS = fieldsOf<SessionInfo>()('sid', 'targetName', 'portal', 'portalGroupTag', 'state', 'reason', 'tsih', 'isid');
const STATS_FIELDS = fieldsOf<SessionStats>()('sid', 'commands', 'bytesRead', 'bytesWritten', 'reconnects', 'retriedCommands', 'digestErrors', 'timeouts', 'hba', 'at');
const HBA_STATS_FIELDS = fieldsOf<HbaStats>()('targetId', 'inFlight', 'commands', 'bytesRead', 'bytesWritten', 'failures', 'aborts', 'rescans');
const LUN_FIELDS = fieldsOf<LunInfo>()('lun', 'vendor', 'product', 'revision', 'serial', 'sizeBytes', 'blockLength', 'disk', 'mountPoints');
const SECRET_REF = { targetName: 'text', portal: 'string?', kind: 'kind' } as const;

/** The named result types of docs/api.md (Types) and their fields. */
export const RPC_TYPES = {
  NodeRecord: NODE_FIELDS,
  SessionInfo: SESSION_FIELDS,
  LunInfo: LUN_FIELDS,
  SessionStats: STATS_FIELDS,
  HbaStats: HBA_STATS_FIELDS,
  SessionDetails: fieldsOf<SessionDetails>()(...SESSION_FIELDS, 'parameters', 'counters', 'luns'),
  InitiatorInfo: fieldsOf<InitiatorInfo>()('name', 'alias'),
  NodeStatus: fieldsOf<NodeStatus>()('node', 'session', 'chapConfigured'),
} as const;

/** The methods (docs/api.md, Methods). */
export const RPC_METHODS = {
  version: { mutating: false, params: {}, result: fieldsOf<VersionInfo>()('name', 'version', 'protocol') },
  'initiator.get': { mutating: false, params: {}, result: RPC_TYPES.InitiatorInfo },
  'initiator.set': { mutating: true, params: { name: 'string', alias: 'text?' }, result: RPC_TYPES.InitiatorInfo },
  'discovery.sendTargets': { mutating: true, params: { portal: 'string', username: 'string?' }, result: fieldsOf<DiscoveryResult>()('targets', 'recorded') },
  'nodes.list': { mutating: false, params: { targetName: 'string?', portal: 'string?' }, result: NODE_FIELDS },
  // nodes.list with each node's session and CHAP readiness in one call (what Raycast's Targets and menu bar show).
  'nodes.status': { mutating: false, params: { targetName: 'string?', portal: 'string?' }, result: RPC_TYPES.NodeStatus },
  'nodes.get': { mutating: false, params: { targetName: 'string', portal: 'string?' }, result: NODE_FIELDS },
  'nodes.update': { mutating: true, params: { targetName: 'string', portal: 'string?', key: 'string', value: 'text' }, result: NODE_FIELDS },
  'nodes.delete': { mutating: true, params: { targetName: 'string', portal: 'string?' }, result: fieldsOf<{ deleted: number }>()('deleted') },
  'secrets.set': { mutating: true, params: { ...SECRET_REF, secret: 'string' }, result: fieldsOf<{ stored: true }>()('stored') },
  'secrets.has': { mutating: false, params: SECRET_REF, result: fieldsOf<{ stored: boolean }>()('stored') },
  // The one way a secret leaves the store: authorized like a mutating method (root only, docs/security.md).
  'secrets.reveal': { mutating: true, params: SECRET_REF, result: fieldsOf<{ secret: string }>()('secret') },
  'sessions.login': { mutating: true, params: { targetName: 'string', portal: 'string?' }, result: SESSION_FIELDS },
  'sessions.logout': { mutating: true, params: { sid: 'sid?', all: 'true?', force: 'boolean?' }, result: fieldsOf<{ loggedOut: number }>()('loggedOut') },
  'sessions.list': { mutating: false, params: {}, result: SESSION_FIELDS },
  'sessions.get': { mutating: false, params: { sid: 'sid' }, result: RPC_TYPES.SessionDetails },
  'sessions.stats': { mutating: false, params: { sid: 'sid' }, result: STATS_FIELDS },
  'sessions.rescan': { mutating: true, params: { sid: 'sid' }, result: fieldsOf<{ luns: LunInfo[] }>()('luns') },
  'events.subscribe': { mutating: false, params: {}, result: fieldsOf<{ subscribed: true }>()('subscribed') },
} as const satisfies Record<string, MethodSpec>;

/** Each method's result type; the keys must be exactly those of RPC_METHODS. */
interface Results {
  version: VersionInfo;
  'initiator.get': InitiatorInfo;
  'initiator.set': InitiatorInfo;
  'discovery.sendTargets': DiscoveryResult;
  'nodes.list': NodeRecord[];
  'nodes.status': NodeStatus[];
  'nodes.get': NodeRecord;
  'nodes.update': NodeRecord;
  'nodes.delete': { deleted: number };
  'secrets.set': { stored: true };
  'secrets.has': { stored: boolean };
  'secrets.reveal': { secret: string };
  'sessions.login': SessionInfo;
  'sessions.logout': { loggedOut: number };
  'sessions.list': SessionInfo[];
  'sessions.get': SessionDetails;
  'sessions.stats': SessionStats;
  'sessions.rescan': { luns: LunInfo[] };
  'events.subscribe': { subscribed: true };
}

export type RpcMethod = keyof typeof RPC_METHODS;
export type RpcParams<M extends RpcMethod> = ParamsFrom<(typeof RPC_METHODS)[M]['params']>;
export type RpcResult<M extends RpcMethod> = M extends keyof Results ? Results[M] : never;

// Compile-time: the result table and the method table name the same methods.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : never;
const resultsCoverMethods: SameKeys<Results, typeof RPC_METHODS> = true;
void resultsCoverMethods;

/** The notifications iscsid sends to subscribed connections (docs/api.md, Notifications). */
export interface RpcNotifications {
  'session.stateChanged': SessionStateChange;
  'session.lunsChanged': SessionLunsChange;
  'session.stats': SessionStats;
}
export type RpcNotificationMethod = keyof RpcNotifications;
/** One notification as a client receives it: switch on `method` and `params` is typed. */
export type RpcNotification = { [N in RpcNotificationMethod]: { readonly method: N; readonly params: RpcNotifications[N] } }[RpcNotificationMethod];

export const RPC_NOTIFICATIONS = {
  'session.stateChanged': fieldsOf<SessionStateChange>()('sid', 'state', 'reason'),
  'session.lunsChanged': fieldsOf<SessionLunsChange>()('sid', 'luns'),
  'session.stats': STATS_FIELDS,
} as const satisfies Record<RpcNotificationMethod, readonly string[]>;

export function isRpcMethod(name: string): name is RpcMethod {
  return Object.hasOwn(RPC_METHODS, name);
}
