// The daemon's state (STYLE.md: daemon/ sits on top of net/): the node database and its settings.
export {
  NodeDatabase,
  NODE_DB_SCHEMA_VERSION,
  NODE_DB_FILE_NAME,
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
export * from './rpc-client.js';
export * from './peer-credentials.js';
export * from './session-manager.js';
