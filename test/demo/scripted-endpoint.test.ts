import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import type {
  ScriptedEndpoint,
  ScriptedEndpointOptions,
} from '../../src/demo/scripted-endpoint.ts';

let endpoint: ScriptedEndpoint | undefined;

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

async function start(options: ScriptedEndpointOptions = {}): Promise<ScriptedEndpoint> {
  endpoint = await startScriptedEndpoint(options);
  return endpoint;
}

function post(server: ScriptedEndpoint, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

const USER_TURN = { model: 'm', messages: [{ role: 'user', content: 'hi there' }] };

interface Completion {
  choices: { message: { content: string } }[];
}

interface Chunk {
  choices: { delta: { content?: string } }[];
}

describe('scripted endpoint', () => {
  it('listens on loopback and answers with the last user message by default', async () => {
    const server = await start();
    const response = await post(server, USER_TURN);
    const body = (await response.json()) as Completion;

    assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.equal(body.choices[0]?.message.content, 'Answer to: hi there');
    assert.equal(server.requests[0]?.seq, 1);
    assert.equal(server.requests[0]?.authorization, 'Bearer t');
    assert.equal(server.requests[0]?.outcome, 'answered');
    assert.ok((server.requests[0]?.endedAt ?? 0) >= (server.requests[0]?.startedAt ?? 1));
  });

  it('streams server-sent chunks that end with [DONE]', async () => {
    const server = await start({ reply: () => ({ kind: 'text', text: 'abcdef', chunks: 3 }) });
    const text = await (await post(server, { ...USER_TURN, stream: true })).text();
    const events = text.split('\n\n').filter(Boolean);

    assert.equal(events.at(-1), 'data: [DONE]');
    const pieces = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.slice('data: '.length)) as Chunk)
      .map((chunk) => chunk.choices[0]?.delta.content ?? '');
    assert.deepEqual(pieces, ['ab', 'cd', 'ef', '']);
  });

  it('holds a request while the reply function waits', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = await start({
      reply: async () => {
        await gate;
        return { kind: 'text', text: 'released' };
      },
    });
    const response = post(server, USER_TURN);

    await server.waitForRequests(1);
    assert.equal(server.requests[0]?.outcome, undefined);
    release();
    const body = (await (await response).json()) as Completion;
    assert.equal(body.choices[0]?.message.content, 'released');
  });

  it('sends an OpenAI-style error body and Retry-After for a status reply', async () => {
    const server = await start({
      reply: () => ({ kind: 'status', status: 429, message: 'slow down', retryAfterS: 3 }),
    });
    const response = await post(server, USER_TURN);

    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '3');
    assert.deepEqual(await response.json(), {
      error: { message: 'slow down', type: 'rate_limit_error', code: null },
    });
    assert.equal(server.requests[0]?.outcome, 'failed');
  });

  it('aborts the reply signal and records the request as aborted when the client leaves', async () => {
    let replySignal: AbortSignal | undefined;
    const server = await start({
      reply: (_request, signal) => {
        replySignal = signal;
        return { kind: 'hang' };
      },
    });
    const controller = new AbortController();
    const response = post(server, USER_TURN, controller.signal);

    await server.waitForRequests(1);
    controller.abort();
    await assert.rejects(response);
    await new Promise<void>((resolve) => {
      if (replySignal?.aborted) resolve();
      else replySignal?.addEventListener('abort', () => resolve(), { once: true });
    });
    assert.equal(server.requests[0]?.outcome, 'aborted');
  });

  it('ends hanging requests on close', async () => {
    const server = await start({ reply: () => ({ kind: 'hang' }) });
    const response = post(server, USER_TURN);
    // Expect the rejection before it can happen: Deno fails a test whose
    // promise rejects before a handler is attached, even one attached later.
    const rejected = assert.rejects(response);

    await server.waitForRequests(1);
    await server.close();
    await rejected;
    assert.equal(server.requests[0]?.outcome, 'aborted');
  });

  it('lists no special models and answers unknown routes with 404', async () => {
    const server = await start();
    const models = await fetch(`${server.baseUrl}/models`);
    const missing = await fetch(`${server.baseUrl}/embeddings`);

    assert.deepEqual(await models.json(), { object: 'list', data: [] });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  it('rejects waitForRequests with the counts when too few requests arrive', async () => {
    const server = await start();

    const waiting = server.waitForRequests(1, 10);
    await assert.rejects(waiting, /Cannot wait for requests: 0 of 1 arrived in 10 ms/);
  });
});
