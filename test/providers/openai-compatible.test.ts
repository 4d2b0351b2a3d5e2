import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { startScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import type {
  EndpointRequest,
  Reply,
  ScriptedEndpoint,
} from '../../src/demo/scripted-endpoint.ts';
import { ExaiError } from '../../src/errors.ts';
import { providerAccess } from '../../src/providers/catalog.ts';
import { createProvider } from '../../src/providers/openai-compatible.ts';
import type { ChatRequest, RetryPolicy } from '../../src/providers/openai-compatible.ts';
import { skipUnderDeno } from '../support/runtime.ts';

const KEY = 'sk-test-secret-0123456789';
const PROMPT = 'What is the airspeed of an unladen swallow?';
const FAST_RETRY: Partial<RetryPolicy> = { baseDelayMs: 1, maxDelayMs: 5 };

let endpoint: ScriptedEndpoint | undefined;

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

async function start(
  reply?: (request: EndpointRequest, signal: AbortSignal) => Reply | Promise<Reply>,
): Promise<ScriptedEndpoint> {
  endpoint = await startScriptedEndpoint(reply === undefined ? {} : { reply });
  return endpoint;
}

function kimiAt(
  baseUrl: string,
  options: Parameters<typeof createProvider>[1] = { retry: FAST_RETRY },
): ReturnType<typeof createProvider> {
  const access = providerAccess('kimi', { KIMI_API_KEY: KEY, KIMI_API_URL: baseUrl });
  return createProvider(access, options);
}

function ask(extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'kimi-k2-0905-preview', messages: [{ role: 'user', content: PROMPT }], ...extra };
}

async function failure(promise: Promise<unknown>): Promise<ExaiError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ExaiError, `expected an ExaiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await delay(5);
  }
}

describe('openai-compatible provider', () => {
  it('answers a non-streaming request with the endpoint text', async () => {
    const server = await start();
    const result = await kimiAt(server.baseUrl).chat(ask());

    assert.equal(result.text, `Answer to: ${PROMPT}`);
    assert.equal(result.model, 'kimi-k2-0905-preview');
    assert.equal(result.attempts, 1);
    assert.ok(result.usage !== undefined && result.usage.completionTokens > 0);
    assert.equal(server.requests[0]?.stream, false);
    assert.equal(server.requests[0]?.outcome, 'answered');
  });

  it('streams tokens in order through onToken and joins them into the text', async () => {
    const server = await start(() => ({
      kind: 'text',
      text: 'one two three four',
      chunkDelayMs: 2,
    }));
    const tokens: string[] = [];
    const result = await kimiAt(server.baseUrl).chat(ask({ onToken: (text) => tokens.push(text) }));

    assert.deepEqual(tokens, ['one ', 'two ', 'three ', 'four']);
    assert.equal(result.text, 'one two three four');
    assert.equal(server.requests[0]?.stream, true);
  });

  it('sends the key as a bearer authorization header', async () => {
    const server = await start();
    await kimiAt(server.baseUrl).chat(ask());

    assert.equal(server.requests[0]?.authorization, `Bearer ${KEY}`);
  });

  it('accepts an empty answer', async () => {
    const server = await start(() => ({ kind: 'text', text: '' }));
    const provider = kimiAt(server.baseUrl);

    assert.equal((await provider.chat(ask())).text, '');
    assert.equal((await provider.chat(ask({ onToken: () => {} }))).text, '');
  });

  it('retries a 429 and answers on the second attempt', async () => {
    const server = await start((request) =>
      request.seq === 1 ? { kind: 'status', status: 429 } : { kind: 'text', text: 'late' },
    );
    const result = await kimiAt(server.baseUrl).chat(ask());

    assert.equal(result.text, 'late');
    assert.equal(result.attempts, 2);
    assert.equal(server.requests.length, 2);
  });

  it('waits as long as Retry-After says, capped by maxDelayMs', async () => {
    const server = await start((request) => {
      if (request.seq === 1) return { kind: 'status', status: 429, retryAfterS: 2 };
      if (request.seq === 2) return { kind: 'status', status: 503, retryAfterS: 60 };
      return { kind: 'text', text: 'ok' };
    });
    const delaysMs: number[] = [];
    const provider = kimiAt(server.baseUrl, {
      retry: { maxDelayMs: 10_000 },
      sleep: async (ms) => void delaysMs.push(ms),
    });
    const result = await provider.chat(ask());

    assert.deepEqual(delaysMs, [2000, 10_000]);
    assert.equal(result.attempts, 3);
  });

  it('backs off exponentially with jitter inside the policy bounds', async () => {
    const server = await start(() => ({ kind: 'status', status: 502 }));
    const delaysMs: number[] = [];
    const provider = kimiAt(server.baseUrl, {
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300 },
      sleep: async (ms) => void delaysMs.push(ms),
    });
    await failure(provider.chat(ask()));

    const ceilingsMs = [100, 200, 300, 300];
    assert.equal(delaysMs.length, 4);
    delaysMs.forEach((ms, index) => {
      const ceilingMs = ceilingsMs[index] ?? 0;
      assert.ok(ms >= ceilingMs / 2 && ms <= ceilingMs, `delay ${ms} outside ${ceilingMs}`);
    });
  });

  it('fails with PROVIDER_FAILED after the last attempt of a 500', async () => {
    const server = await start(() => ({ kind: 'status', status: 500, message: 'boom' }));
    const err = await failure(kimiAt(server.baseUrl).chat(ask()));

    assert.equal(err.code, 'PROVIDER_FAILED');
    assert.equal(err.message, 'Cannot get an answer from kimi: HTTP 500 (boom) after 4 attempts');
    assert.equal(err.facts['provider'], 'kimi');
    assert.equal(err.facts['status'], 500);
    assert.equal(err.facts['attempts'], 4);
    assert.ok(err.cause !== undefined);
    assert.equal(server.requests.length, 4);
  });

  it('does not retry a 401 and names the key variable', async () => {
    const server = await start(() => ({ kind: 'status', status: 401, message: `bad key ${KEY}` }));
    const err = await failure(kimiAt(server.baseUrl).chat(ask()));

    assert.equal(err.code, 'PROVIDER_FAILED');
    assert.match(err.message, /^Cannot get an answer from kimi: the provider refused the key/);
    assert.match(err.message, /KIMI_API_KEY/);
    assert.equal(err.facts['status'], 401);
    assert.equal(err.facts['attempts'], 1);
    assert.equal(server.requests.length, 1);
  });

  it('reports another 4xx at once with the provider message, trimmed', async () => {
    const server = await start(() => ({
      kind: 'status',
      status: 400,
      message: `temperature is out of range\n${'x'.repeat(400)}`,
    }));
    const err = await failure(kimiAt(server.baseUrl).chat(ask({ temperature: 7 })));

    const expected = /^Cannot get an answer from kimi: HTTP 400 \(temperature is out of range x+…\)$/;
    assert.match(err.message, expected);
    assert.ok(err.message.length < 300);
    assert.equal(server.requests.length, 1);
  });

  it('keeps the key and the prompt out of error messages', async () => {
    const server = await start(() => ({
      kind: 'status',
      status: 422,
      message: `key ${KEY} said no`,
    }));
    const err = await failure(kimiAt(server.baseUrl).chat(ask()));

    assert.doesNotMatch(err.message, new RegExp(KEY));
    assert.doesNotMatch(err.message, /swallow/);
    assert.match(err.message, /key \*\*\* said no/);
  });

  it('retries a refused connection and then names the failure', async () => {
    const server = await start();
    const { baseUrl } = server;
    await server.close();
    const provider = kimiAt(baseUrl, { retry: { ...FAST_RETRY, maxAttempts: 2 } });
    const err = await failure(provider.chat(ask()));

    assert.equal(err.code, 'PROVIDER_FAILED');
    assert.match(err.message, /^Cannot get an answer from kimi: connection failed.* after 2 attempts$/);
    assert.equal(err.facts['attempts'], 2);
    assert.equal(err.facts['status'], undefined);
  });

  it(
    'names the system error of a refused connection',
    skipUnderDeno("Deno's fetch reports a refused connection in its message only, with no error code to name"),
    async () => {
      const server = await start();
      const { baseUrl } = server;
      await server.close();
      const provider = kimiAt(baseUrl, { retry: { ...FAST_RETRY, maxAttempts: 1 } });
      const err = await failure(provider.chat(ask()));

      assert.equal(err.facts['errorCode'], 'ECONNREFUSED');
      assert.match(err.message, /connection failed \(ECONNREFUSED\)/);
    },
  );

  it('rethrows an onToken error as is without retrying', async () => {
    const server = await start(() => ({ kind: 'text', text: 'a b c', chunkDelayMs: 5 }));
    const mine = new Error('caller broke');
    const provider = kimiAt(server.baseUrl);
    const call = provider.chat(
      ask({
        onToken: () => {
          throw mine;
        },
      }),
    );

    await assert.rejects(call, (err) => err === mine);
    assert.equal(server.requests.length, 1);
    await until(() => server.requests[0]?.outcome === 'aborted');
  });

  it('rejects with the signal reason when aborted mid-stream and the request ends aborted', async () => {
    const server = await start(() => ({ kind: 'text', text: 'a b c d e f g h', chunkDelayMs: 20 }));
    const controller = new AbortController();
    const reason = new Error('cancelled by the client');
    const tokens: string[] = [];
    const call = kimiAt(server.baseUrl).chat(
      ask({
        signal: controller.signal,
        onToken: (text) => {
          tokens.push(text);
          if (tokens.length === 2) controller.abort(reason);
        },
      }),
    );

    await assert.rejects(call, (err) => err === reason);
    await until(() => server.requests[0]?.outcome === 'aborted');
    assert.ok(tokens.length < 8);
    assert.equal(server.requests.length, 1);
  });

  it('aborts a hanging answer when the signal aborts', async () => {
    const server = await start(() => ({ kind: 'hang' }));
    const controller = new AbortController();
    const reason = new Error('stop waiting');
    const call = kimiAt(server.baseUrl).chat(ask({ signal: controller.signal }));

    await server.waitForRequests(1);
    controller.abort(reason);
    await assert.rejects(call, (err) => err === reason);
    await until(() => server.requests[0]?.outcome === 'aborted');
  });

  it('rejects a hanging stream with the timeout reason of AbortSignal.timeout', async () => {
    const server = await start(() => ({ kind: 'hang' }));
    const signal = AbortSignal.timeout(50);
    const call = kimiAt(server.baseUrl).chat(ask({ signal, onToken: () => {} }));

    await assert.rejects(call, (err) => err === signal.reason);
    assert.equal((signal.reason as Error).name, 'TimeoutError');
  });

  it('stops waiting between attempts when the signal aborts', async () => {
    const server = await start(() => ({ kind: 'status', status: 503 }));
    const controller = new AbortController();
    const reason = new Error('call timed out');
    const patient = { baseDelayMs: 60_000, maxDelayMs: 60_000 };
    const provider = kimiAt(server.baseUrl, { retry: patient });
    const call = provider.chat(ask({ signal: controller.signal }));

    await server.waitForRequests(1);
    await until(() => server.requests[0]?.outcome === 'failed');
    controller.abort(reason);
    await assert.rejects(call, (err) => err === reason);
    assert.equal(server.requests.length, 1);
  });

  it('does not start a request when the signal has already aborted', async () => {
    const server = await start();
    const reason = new Error('too late');
    const call = kimiAt(server.baseUrl).chat(ask({ signal: AbortSignal.abort(reason) }));

    await assert.rejects(call, (err) => err === reason);
    assert.equal(server.requests.length, 0);
  });
});
