import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { RpcCode } from './wire.ts';

/** The error a frame that is not a JSON-RPC message is answered with. */
export interface BadFrame {
  id: string | number | null;
  code: number;
  message: string;
}

/** What a frame may arrive as: text from stdio, or what `ws` hands over. */
export type RawFrame = string | Buffer | ArrayBuffer | Buffer[];

/** Parses one frame into a JSON-RPC message, or the error to answer it with. */
export function parseFrame(data: RawFrame, isBinary = false): { message: JSONRPCMessage } | { error: BadFrame } {
  if (isBinary) return { error: { id: null, code: RpcCode.invalidRequest, message: 'Binary frames are not JSON-RPC' } };

  let value: unknown;
  try {
    value = JSON.parse(rawToString(data));
  } catch {
    return { error: { id: null, code: RpcCode.parseError, message: 'Parse error: the frame is not valid JSON' } };
  }

  if (isJsonRpcMessage(value)) return { message: value };
  return { error: { id: idOf(value), code: RpcCode.invalidRequest, message: 'Invalid request: not a JSON-RPC 2.0 message' } };
}

/**
 * True when `value` is a JSON-RPC message as the MCP SDK's
 * `JSONRPCMessageSchema` defines it: a request, a notification, a result or
 * an error, each with no other top-level members.
 *
 * Written out rather than taken from the SDK because the shim reads its
 * first frame (`initialize`) before anything else, and building the SDK's
 * zod schemas costs more at start-up (~25 ms) than the whole answer should
 * take. test/protocol/frame.test.ts holds this to the SDK's verdicts.
 */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (!isRecord(value) || value.jsonrpc !== '2.0') return false;

  if ('method' in value) {
    const allowed = 'id' in value ? REQUEST_KEYS : NOTIFICATION_KEYS;
    return (
      hasOnly(value, allowed) &&
      typeof value.method === 'string' &&
      (!('id' in value) || isRequestId(value.id)) &&
      (value.params === undefined || isParams(value.params))
    );
  }

  if ('result' in value) {
    return hasOnly(value, RESULT_KEYS) && isRequestId(value.id) && isParams(value.result);
  }

  return (
    hasOnly(value, ERROR_KEYS) &&
    (value.id === undefined || isRequestId(value.id)) &&
    isErrorObject(value.error)
  );
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const NOTIFICATION_KEYS = new Set(['jsonrpc', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);
const ERROR_KEYS = new Set(['jsonrpc', 'id', 'error']);

// The SDK's key under `_meta` that ties a message to a task.
const RELATED_TASK_KEY = 'io.modelcontextprotocol/related-task';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasOnly(value: Json, allowed: Set<string>): boolean {
  return Object.keys(value).every((key) => allowed.has(key));
}

// zod's `int()` accepts safe integers only.
function isRequestId(value: unknown): boolean {
  return typeof value === 'string' || Number.isSafeInteger(value);
}

// Params and results may carry anything, but a `_meta` they carry has a shape.
function isParams(value: unknown): boolean {
  if (!isRecord(value)) return false;
  if (value._meta === undefined) return true;
  if (!isRecord(value._meta)) return false;

  const { progressToken } = value._meta;
  const related = value._meta[RELATED_TASK_KEY];
  return (
    (progressToken === undefined || isRequestId(progressToken)) &&
    (related === undefined || (isRecord(related) && typeof related.taskId === 'string'))
  );
}

function isErrorObject(value: unknown): boolean {
  return isRecord(value) && Number.isSafeInteger(value.code) && typeof value.message === 'string';
}

function rawToString(data: RawFrame): string {
  if (typeof data === 'string') return data;
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function idOf(value: unknown): string | number | null {
  if (!isRecord(value)) return null;
  const id = value.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
