// @iscsi-initiator/core/daemon: iscsid's modules (STYLE.md: daemon/ sits on top of net/): the node database and its
// settings, the secret store, the RPC server and its handlers, the session manager. Loads conf, pino's peers, the
// keyring and the native addon: clients import @iscsi-initiator/core/rpc instead.
export {
  NodeDatabase,
  NODE_DB_SCHEMA_VERSION,
  NODE_DB_FILE_NAME,
  NODE_DB_REJECTED_SUFFIX,
  type NodeDbLog,
  type NodeRecord,
} from './node-db.js';
export {
  NODE_KEYS,
  isSecretKey,
  nodeKey,
  validateSetting,
  withDefaults,
  sessionSettingsOf,
  type NodeSettings,
  type NodeKeyDefinition,
  type NodeSessionSettings,
} from './node-settings.js';
export * from './secrets.js';
export * from './rpc-server.js';
export * from './rpc-methods.js';
export * from './rpc-handlers.js';
export * from './usage.js';
export * from './peer-credentials.js';
export * from './session-manager.js';
export * from './socket-file.js';
export * from './instance-lock.js';
export * from './file-safety.js';
