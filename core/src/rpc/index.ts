// @iscsi-initiator/core/rpc: iscsid's JSON-RPC contract and a typed client. No native, daemon or logging dependency:
// it bundles small enough for a Raycast extension (test: core/test/rpc/bundle.test.ts).
export * from './types.js';
export * from './contract.js';
export { validateParams } from './params.js';
export { RpcClient, RpcError, type NotificationListener, type ParamsArg, type RpcConnectOptions } from './client.js';
export { secretLookupOrder, findInOrder, isSecretKey } from './secret-rules.js';
export { DEFAULT_SOCKET_PATH, DEFAULT_TIMEOUTS } from '../defaults.js';
export { SOCKET_ENV } from '../platform-paths.js';
export * from '../errors.js';
