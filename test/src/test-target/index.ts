// The test target: an iSCSI target on core's codec, RAM-backed, misbehaving on cue (docs/test-target.md).
export { TestTarget, type SessionInfo } from './test-target.js';
export {
  DEFAULT_CMD_WINDOW,
  DEFAULT_LUN_SIZE,
  DEFAULT_TARGET_NAME,
  parseSize,
  type LunOptions,
  type TargetOptions,
  type TestTargetOptions,
} from './options.js';
export type { ChapAccount } from './chap.js';
export type { TargetParams } from './negotiation.js';
export type { Misbehaviour, MisbehaviourHandle, MisbehaviourKind } from './misbehaviour.js';
export type { TargetEvent, TargetStats, Violation, ViolationKind } from './recorder.js';
export type { LogicalUnit, ScsiOutcome } from './logical-unit.js';
export type { RamDisk } from './ram-disk.js';
export { WireClient, type WireClientOptions } from './wire-client.js';
