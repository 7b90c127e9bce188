// @iscsi-initiator/core: the engine only. Layers (STYLE.md): pdu → text → login/session → net; scsi stands apart.
// The daemon is @iscsi-initiator/core/daemon, the RPC contract and client @iscsi-initiator/core/rpc.
export * from './errors.js';
export * from './defaults.js';
export * from './pdu/index.js';
export * from './text/index.js';
export * from './scsi/index.js';
export * from './login/chap.js';
export * from './login/status.js';
export * from './login/isid.js';
export * from './login/auth.js';
export * from './login/login-state-machine.js';
export * from './session/serial.js';
export * from './session/command-window.js';
export * from './session/scsi-task.js';
export * from './session/task-management.js';
export * from './session/command-retry.js';
export * from './net/connection.js';
export * from './net/login.js';
export * from './net/session.js';
export * from './net/recovering-session.js';
export * from './session/reconnect-policy.js';
export * from './net/discovery.js';
export * from './portal.js';
export * from './url.js';
export * from './iscsi-name.js';
export * from './initiator-name.js';
export * from './platform-paths.js';
