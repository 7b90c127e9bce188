/** Task management functions (RFC 7143 §11.5.1) and their responses (§11.6.1). */
export const TmfFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const;
export type TmfFunction = (typeof TmfFunction)[keyof typeof TmfFunction];

export const TmfResponse = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  ReassignmentNotSupported: 4,
  NotSupported: 5,
  AuthorizationFailed: 6,
  Rejected: 255,
} as const;

const FUNCTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ABORT TASK',
  2: 'ABORT TASK SET',
  3: 'CLEAR ACA',
  4: 'CLEAR TASK SET',
  5: 'LOGICAL UNIT RESET',
  6: 'TARGET WARM RESET',
  7: 'TARGET COLD RESET',
  8: 'TASK REASSIGN',
};

const RESPONSE_NAMES: Readonly<Record<number, string>> = {
  0: 'function complete',
  1: 'task does not exist',
  2: 'LUN does not exist',
  3: 'task still allegiant',
  4: 'task allegiance reassignment not supported',
  5: 'task management function not supported',
  6: 'function authorization failed',
  255: 'function rejected',
};

export function tmfFunctionName(fn: number): string {
  return FUNCTION_NAMES[fn] ?? `function ${fn}`;
}

export function tmfResponseName(response: number): string {
  return RESPONSE_NAMES[response] ?? `response ${response}`;
}

/**
 * Whether the function's success means every task in its scope is gone (§11.5.1: the target does not answer the
 * tasks it aborted, so the initiator ends them itself when the TMF response arrives).
 */
export function tmfScope(fn: number): 'task' | 'lun' | 'target' | 'none' {
  if (fn === TmfFunction.AbortTask) return 'task';
  if (fn === TmfFunction.AbortTaskSet || fn === TmfFunction.ClearTaskSet || fn === TmfFunction.LogicalUnitReset) return 'lun';
  if (fn === TmfFunction.TargetWarmReset || fn === TmfFunction.TargetColdReset) return 'target';
  return 'none';
}
