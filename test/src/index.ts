export {
  freePort,
  startTgtd,
  tgtdInstalled,
  TgtdError,
  type ChapAccount,
  type StartTgtdOptions,
  type TgtdInstance,
  type TgtdLun,
  type TgtdTarget,
} from './tgtd.js';
export {
  acceptingLogin,
  closeScriptedTargets,
  fixedSense,
  loginResponse,
  scriptedTarget,
  ScriptedTarget,
  ScriptedTargetError,
  TargetConnection,
  type FullFeaturePdu,
  type LoginScript,
  type ScriptedTargetOptions,
} from './scripted-target.js';
export { FaultProxy, randomCutSchedule, type Direction, type FaultProxyHolding, type FaultProxyOptions, type FaultProxyStats, type ProxyClock } from './fault-proxy.js';
export {
  TestTarget,
  WireClient,
  DEFAULT_TARGET_NAME,
  parseSize,
  type Misbehaviour,
  type MisbehaviourHandle,
  type MisbehaviourKind,
  type SessionInfo,
  type TargetEvent,
  type TargetOptions,
  type TargetParams,
  type TargetStats,
  type TestTargetOptions,
  type Violation,
} from './test-target/index.js';
export { inParallel, mixedChunks } from './workload.js';
export { startIscsid, type IscsidInstance } from './iscsid.js';
export { findTool, requireRoot, requireTool, underCi } from './require-tool.js';
