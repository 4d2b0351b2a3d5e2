import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ExaiError, messageOf, type ErrorCode } from '../errors.ts';
import { RpcCode } from '../protocol/wire.ts';

// Failures that are the call's own (bad model, no key, provider trouble,
// limits): the agent reads them as a tool result and can act on them.
const TOOL_RESULT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_ARGUMENTS',
  'UNKNOWN_MODEL',
  'NO_API_KEY',
  'PROVIDER_FAILED',
  'QUEUE_TIMEOUT',
  'CALL_TIMEOUT',
  'TOO_MANY_CALLS',
  'THREAD_NOT_FOUND',
  'THREAD_FULL',
  'WRONG_WORKSPACE',
  'PATH_OUTSIDE_ROOTS',
  'FILE_UNREADABLE',
  'CONTEXT_TOO_LARGE',
  'GIT_FAILED',
  'NO_CHANGES',
]);

const RPC_CODES: Partial<Record<ErrorCode, number>> = {
  UNKNOWN_TOOL: RpcCode.invalidParams,
  DRAINING: RpcCode.draining,
  CANCELLED: RpcCode.cancelled,
};

/**
 * An error that crosses the wire as a JSON-RPC error. The SDK sends `code`,
 * `message` and `data` of what a handler throws; its own McpError would put
 * "MCP error N:" into the message, which clients then prefix once more.
 */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/**
 * The one place where errors meet the wire: a call's own failure becomes an
 * `isError` result, anything else a JSON-RPC error (thrown as RpcError).
 */
export function toToolResult(err: unknown, tool: string): CallToolResult {
  if (err instanceof ExaiError && TOOL_RESULT_CODES.has(err.code)) {
    return {
      isError: true,
      content: [{ type: 'text', text: err.message }],
      _meta: { 'exai/code': err.code },
    };
  }
  if (err instanceof ExaiError) {
    throw new RpcError(RPC_CODES[err.code] ?? RpcCode.internalError, err.message, { code: err.code });
  }
  if (err instanceof RpcError) throw err;

  return {
    isError: true,
    content: [{ type: 'text', text: `Cannot run "${tool}": internal error: ${messageOf(err)}` }],
    _meta: { 'exai/code': 'INTERNAL' },
  };
}
