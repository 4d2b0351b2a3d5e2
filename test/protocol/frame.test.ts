import assert from 'node:assert/strict';
import { test } from 'node:test';

import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { isJsonRpcMessage, parseFrame } from '../../src/protocol/frame.ts';
import { RpcCode } from '../../src/protocol/wire.ts';

const RELATED = 'io.modelcontextprotocol/related-task';

// Frames on both sides of every rule the SDK's schema has: envelope members,
// id types, params and result shapes, `_meta`, and the error object.
const FRAMES: [string, unknown][] = [
  ['a request', { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
  ['a request with a string id and params', { jsonrpc: '2.0', id: 'a', method: 'x', params: { a: [1] } }],
  ['a request with a fractional id', { jsonrpc: '2.0', id: 1.5, method: 'x' }],
  ['a request with an unsafe integer id', { jsonrpc: '2.0', id: 2 ** 53, method: 'x' }],
  ['a request with a null id', { jsonrpc: '2.0', id: null, method: 'x' }],
  ['a request with a numeric method', { jsonrpc: '2.0', id: 1, method: 7 }],
  ['a request with null params', { jsonrpc: '2.0', id: 1, method: 'x', params: null }],
  ['a request with array params', { jsonrpc: '2.0', id: 1, method: 'x', params: [1, 2] }],
  ['a request with an extra member', { jsonrpc: '2.0', id: 1, method: 'x', extra: true }],
  ['a request with a progress token', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { progressToken: 't' } } }],
  ['a request with a numeric progress token', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { progressToken: 3 } } }],
  ['a request with a boolean progress token', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { progressToken: true } } }],
  ['a request with a string _meta', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: 'm' } }],
  ['a request with other _meta members', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { other: 1 } } }],
  ['a request tied to a task', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { [RELATED]: { taskId: 't' } } } }],
  ['a request tied to a task without an id', { jsonrpc: '2.0', id: 1, method: 'x', params: { _meta: { [RELATED]: {} } } }],
  ['a notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
  ['a notification with params', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }],
  ['a notification with an extra member', { jsonrpc: '2.0', method: 'x', result: {} }],
  ['a result', { jsonrpc: '2.0', id: 1, result: {} }],
  ['a result with content', { jsonrpc: '2.0', id: 'b', result: { content: [], _meta: {} } }],
  ['a result that is a string', { jsonrpc: '2.0', id: 1, result: 'ok' }],
  ['a result without an id', { jsonrpc: '2.0', result: {} }],
  ['a result that is also an error', { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'm' } }],
  ['an error', { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'bad' } }],
  ['an error with data', { jsonrpc: '2.0', id: 1, error: { code: -1, message: 'bad', data: { why: 1 } } }],
  ['an error without an id', { jsonrpc: '2.0', error: { code: -32700, message: 'bad' } }],
  ['an error with a null id', { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'bad' } }],
  ['an error with a fractional code', { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'bad' } }],
  ['an error without a message', { jsonrpc: '2.0', id: 1, error: { code: 1 } }],
  ['an error that is a string', { jsonrpc: '2.0', id: 1, error: 'bad' }],
  ['an id alone', { jsonrpc: '2.0', id: 1 }],
  ['JSON-RPC 1.0', { jsonrpc: '1.0', id: 1, method: 'x' }],
  ['no version', { id: 1, method: 'x' }],
  ['an array (a batch)', [{ jsonrpc: '2.0', id: 1, method: 'x' }]],
  ['a string', 'hello'],
  ['null', null],
  ['a number', 42],
];

test('isJsonRpcMessage gives the verdict of the SDK schema for every kind of frame', () => {
  for (const [name, frame] of FRAMES) {
    const sdk = JSONRPCMessageSchema.safeParse(frame).success;
    assert.equal(isJsonRpcMessage(frame), sdk, `${name}: the SDK says ${sdk ? 'valid' : 'invalid'}`);
  }
});

test('the frame table covers valid and invalid frames alike', () => {
  const verdicts = FRAMES.map(([, frame]) => JSONRPCMessageSchema.safeParse(frame).success);
  assert.ok(verdicts.filter(Boolean).length >= 10);
  assert.ok(verdicts.filter((v) => !v).length >= 15);
});

test('parseFrame hands back the message as the client sent it', () => {
  const frame = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'chat', arguments: { prompt: 'hi' } } };

  assert.deepEqual(parseFrame(JSON.stringify(frame)), { message: frame });
  assert.deepEqual(parseFrame(Buffer.from(JSON.stringify(frame))), { message: frame });
  assert.deepEqual(parseFrame([Buffer.from('{"jsonrpc":"2.0",'), Buffer.from('"method":"x"}')]), {
    message: { jsonrpc: '2.0', method: 'x' },
  });
});

test('parseFrame answers text that is not JSON with a parse error and no id', () => {
  assert.deepEqual(parseFrame('{"jsonrpc":'), {
    error: { id: null, code: RpcCode.parseError, message: 'Parse error: the frame is not valid JSON' },
  });
});

test('parseFrame answers JSON that is not JSON-RPC with an invalid request that keeps its id', () => {
  assert.deepEqual(parseFrame('{"jsonrpc":"2.0","id":"q","method":5}'), {
    error: { id: 'q', code: RpcCode.invalidRequest, message: 'Invalid request: not a JSON-RPC 2.0 message' },
  });
  assert.deepEqual(parseFrame('[1,2]'), {
    error: { id: null, code: RpcCode.invalidRequest, message: 'Invalid request: not a JSON-RPC 2.0 message' },
  });
});

test('parseFrame refuses binary frames', () => {
  const parsed = parseFrame(Buffer.from('{}'), true);
  assert.ok('error' in parsed);
  assert.equal(parsed.error.code, RpcCode.invalidRequest);
});
