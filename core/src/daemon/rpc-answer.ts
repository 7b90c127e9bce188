import { JSONRPCErrorCode, type JSONRPCID, type JSONRPCResponse } from 'json-rpc-2.0';

/**
 * One answer line within a byte budget: each response is stringified on its own and counted, never the whole batch
 * unchecked (issue 10: a batch of 20,000 calls once passed V8's string limit in one JSON.stringify and killed the
 * daemon). A response that does not fit the budget left becomes a small error with its id, so every call is still
 * answered (JSON-RPC 2.0 §6) and the line stays near the budget: the stand-ins are bounded by the batch cap.
 */
export function answerLine(response: JSONRPCResponse | JSONRPCResponse[], maxBytes: number): string {
  if (!Array.isArray(response)) return `${fit(response, maxBytes, maxBytes)}\n`;
  let left = maxBytes - 2; // the brackets
  const parts: string[] = [];
  for (const r of response) {
    const text = fit(r, left - (parts.length > 0 ? 1 : 0), maxBytes);
    left -= Buffer.byteLength(text) + (parts.length > 0 ? 1 : 0);
    parts.push(text);
  }
  return `[${parts.join(',')}]\n`;
}

/** JSON-RPC error for a call whose answer passed the line's budget; Invalid Request: the request asked for too much. */
export function answerTooLarge(id: JSONRPCID, maxBytes: number): JSONRPCResponse {
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: JSONRPCErrorCode.InvalidRequest,
      message: `answer larger than the ${maxBytes}-byte limit of an answer line`,
      data: { code: 'ISCSI_BAD_ARGUMENT', hint: 'send the call alone, or narrow it (nodes.list takes targetName and portal)' },
    },
  };
}

function fit(response: JSONRPCResponse, budget: number, maxBytes: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(response);
  } catch {
    text = undefined; // RangeError: longer than a string can be
  }
  if (text !== undefined && Buffer.byteLength(text) <= budget) return text;
  return JSON.stringify(answerTooLarge(response.id, maxBytes));
}
