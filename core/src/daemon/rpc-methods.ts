import { RPC_METHODS, type RpcMethod, type RpcParams, type RpcResult } from '../rpc/contract.js';
import { validateParams } from '../rpc/params.js';
import type { RpcContext, RpcServer } from './rpc-server.js';

/** One handler per method of the contract, typed by it: a missing method or a wrong result does not compile. */
export type RpcHandlers = {
  readonly [M in RpcMethod]: (params: RpcParams<M>, context: RpcContext) => RpcResult<M> | Promise<RpcResult<M>>;
};

/** Guarded methods that change nothing, and why they are guarded: the refusal must not say "changes state". */
const REFUSALS: Partial<Record<RpcMethod, string>> = {
  'secrets.reveal': 'reveals a stored CHAP secret and needs root',
};

/**
 * Registers every method of the contract on the server: params checked against the contract before the handler
 * runs, and the contract's `mutating` flag deciding who may call it.
 */
export function registerMethods(server: RpcServer, handlers: RpcHandlers): void {
  for (const method of Object.keys(RPC_METHODS) as RpcMethod[]) {
    const handler = handlers[method] as (params: unknown, context: RpcContext) => unknown;
    server.addMethod(method, (params, context) => handler(validateParams(method, params), context), {
      mutating: RPC_METHODS[method].mutating,
      ...(REFUSALS[method] === undefined ? {} : { refusal: REFUSALS[method] }),
    });
  }
}
