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
