import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import { cleanUp, startDaemon, startShimClient, waitFor, type ShimClient } from '../support/exai-processes.ts';
import { Gate } from '../support/gate.ts';
import { chat, textOf } from '../support/tool-calls.ts';

// Real processes: one daemon on port 0, one `exai shim` per client, the SDK's
// client over stdio, and a local OpenAI-compatible endpoint standing in for
// Kimi and GLM (the provider code is the production code).

const endpoints: ScriptedEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});
after(cleanUp);

async function endpointWith(reply: Parameters<typeof startScriptedEndpoint>[0]) {
  const endpoint = await startScriptedEndpoint(reply);
  endpoints.push(endpoint);
  return endpoint;
}

function providerEnv(endpoint: ScriptedEndpoint): Record<string, string> {
  return {
    KIMI_API_KEY: 'test-kimi-key',
    KIMI_API_URL: endpoint.baseUrl,
    GLM_API_KEY: 'test-glm-key',
    GLM_API_URL: endpoint.baseUrl,
  };
}

async function clients(stateDir: string, count: number): Promise<ShimClient[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => startShimClient({ stateDir, clientName: `client-${i + 1}` })),
  );
}

/** Polls the daemon's `status` until its list of calls satisfies `isDone`. */
async function waitForCalls(shim: ShimClient, isDone: (calls: { tool: string; state: string }[]) => boolean) {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const status = await shim.client.callTool({ name: 'status', arguments: {} });
    if (isDone((status.structuredContent as { calls: { tool: string; state: string }[] }).calls)) return;
    if (performance.now() > deadline) throw new Error('Timed out waiting for the daemon to drop the call');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function promptOf(endpoint: ScriptedEndpoint, index: number): string {
  return endpoint.requests[index]!.messages.filter((m) => m.role === 'user').at(-1)!.content;
}

describe('one daemon, many shims', () => {
  test('with --max-inflight 1 two clients never overlap at the provider and each gets its own answer', async () => {
    const endpoint = await endpointWith({
      reply: async (request) => {
        // Long enough that two unbounded calls would certainly overlap.
        await new Promise((resolve) => setTimeout(resolve, 300));
        return echoReply(request);
      },
    });
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env: providerEnv(endpoint) });
    const [a, b] = await clients(daemon.stateDir, 2);

    const [ra, rb] = await Promise.all([chat(a!, 'question from A').result, chat(b!, 'question from B').result]);

    assert.equal(textOf(ra), 'Answer to: question from A');
    assert.equal(textOf(rb), 'Answer to: question from B');
    const [first, second] = [...endpoint.requests].sort((x, y) => x.startedAt - y.startedAt);
    assert.ok(first!.endedAt! <= second!.startedAt, 'the second request started before the first ended');
  });

  test('with --max-inflight 2 two clients run at the provider at the same time', async () => {
    const endpoint = await endpointWith({
      reply: async (request) => {
        // Each request waits for the other: they can only finish if both run at once.
        await endpoint.waitForRequests(2, 15_000);
        return echoReply(request);
      },
    });
    const daemon = await startDaemon({ args: ['--max-inflight', '2'], env: providerEnv(endpoint) });
    const [a, b] = await clients(daemon.stateDir, 2);

    const [ra, rb] = await Promise.all([chat(a!, 'from A').result, chat(b!, 'from B').result]);

    assert.equal(textOf(ra), 'Answer to: from A');
    assert.equal(textOf(rb), 'Answer to: from B');
    const [first, second] = [...endpoint.requests].sort((x, y) => x.startedAt - y.startedAt);
    assert.ok(second!.startedAt < first!.endedAt!, 'the requests did not overlap');
  });

  test('calls from four clients reach the provider in the order they were made', async () => {
    const gate = new Gate();
    const endpoint = await endpointWith({
      reply: async (request) => {
        await gate.pass();
        return echoReply(request);
      },
    });
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env: providerEnv(endpoint) });
    const shims = await clients(daemon.stateDir, 4);

    // Each call is made only once the one before it is known to be in the
    // daemon (running at the endpoint, or queued with its place reported).
    const calls = [chat(shims[0]!, 'call 1')];
    await endpoint.waitForRequests(1, 15_000);
    for (let i = 1; i < 4; i++) {
      const call = chat(shims[i]!, `call ${i + 1}`);
      calls.push(call);
      const expected = `queued: ${i - 1} ahead`;
      await waitFor(() => call.progress.find((m) => m.startsWith(expected)), 15_000, `"${expected}"`);
    }
    gate.open();
    const results = await Promise.all(calls.map((c) => c.result));

    assert.deepEqual(results.map(textOf), ['call 1', 'call 2', 'call 3', 'call 4'].map((p) => `Answer to: ${p}`));
    assert.deepEqual([0, 1, 2, 3].map((i) => promptOf(endpoint, i)), ['call 1', 'call 2', 'call 3', 'call 4']);
  });

  test('kimi=1 runs kimi calls one at a time while a glm call runs beside them', async () => {
    const gate = new Gate();
    const endpoint = await endpointWith({
      reply: async (request) => {
        await gate.pass();
        return echoReply(request);
      },
    });
    const daemon = await startDaemon({
      args: ['--max-inflight', '4', '--provider-max-inflight', 'kimi=1'],
      env: providerEnv(endpoint),
    });
    const [a, b, c] = await clients(daemon.stateDir, 3);

    const kimi1 = chat(a!, 'kimi one', { model: 'kimi-k2-0905-preview' });
    await endpoint.waitForRequests(1, 15_000);
    const kimi2 = chat(b!, 'kimi two', { model: 'kimi-k2-0905-preview' });
    await waitFor(() => kimi2.progress.find((m) => m.includes('waiting for kimi')), 15_000, 'kimi two queued for kimi');
    const glm = chat(c!, 'glm one', { model: 'glm-4.6' });
    await endpoint.waitForRequests(2, 15_000);

    // The glm call got past the queued kimi call; the second kimi call has not started.
    assert.deepEqual(endpoint.requests.map((r) => r.model), ['kimi-k2-0905-preview', 'glm-4.6']);
    gate.open();
    await Promise.all([kimi1.result, kimi2.result, glm.result]);

    const [k1, g, k2] = endpoint.requests;
    assert.equal(k2!.model, 'kimi-k2-0905-preview');
    assert.ok(k2!.startedAt >= k1!.endedAt!, 'the two kimi calls overlapped');
    assert.equal(g!.model, 'glm-4.6');
  });

  test('a cancelled queued call never reaches the provider', async () => {
    const gate = new Gate();
    const endpoint = await endpointWith({
      reply: async (request) => {
        await gate.pass();
        return echoReply(request);
      },
    });
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env: providerEnv(endpoint) });
    const [a, b] = await clients(daemon.stateDir, 2);

    const running = chat(a!, 'keeps running');
    await endpoint.waitForRequests(1, 15_000);
    const abort = new AbortController();
    const queued = chat(b!, 'cancelled while queued', { signal: abort.signal });
    await waitFor(() => queued.progress.find((m) => m.startsWith('queued:')), 15_000, 'the second call queued');
    abort.abort(new Error('the user changed their mind'));
    await assert.rejects(queued.result, /changed their mind/);
    // The client gives up at once; the daemon learns of it through the shim.
    // Open the gate only once the daemon has dropped the call.
    await waitForCalls(b!, (calls) => !calls.some((c) => c.tool === 'chat' && c.state === 'queued'));

    gate.open();
    await running.result;
    // A later call from the same client is served: the cancelled one left no trace in the queue.
    const later = await chat(b!, 'asked afterwards').result;

    assert.equal(textOf(later), 'Answer to: asked afterwards');
    assert.deepEqual([0, 1].map((i) => promptOf(endpoint, i)), ['keeps running', 'asked afterwards']);
    assert.equal(endpoint.requests.length, 2);
  });

  test('cancelling a running call aborts its request at the provider', async () => {
    const endpoint = await endpointWith({ reply: () => ({ kind: 'hang' }) });
    const daemon = await startDaemon({ env: providerEnv(endpoint) });
    const [a] = await clients(daemon.stateDir, 1);

    const abort = new AbortController();
    const call = chat(a!, 'never answered', { signal: abort.signal });
    await endpoint.waitForRequests(1, 15_000);
    abort.abort(new Error('stop it'));

    await assert.rejects(call.result, /stop it/);
    await waitFor(() => endpoint.requests[0]!.outcome, 15_000, 'the provider request to end');
    assert.equal(endpoint.requests[0]!.outcome, 'aborted');
  });

  test('a client that goes away has its running call aborted and its queued call dropped', async () => {
    const endpoint = await endpointWith({ reply: () => ({ kind: 'hang' }) });
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env: providerEnv(endpoint) });
    const [leaver, stayer] = await clients(daemon.stateDir, 2);

    const running = chat(leaver!, 'running when the client left');
    await endpoint.waitForRequests(1, 15_000);
    const queued = chat(leaver!, 'queued when the client left');
    await waitFor(() => queued.progress.find((m) => m.startsWith('queued:')), 15_000, 'the second call queued');
    running.result.catch(() => {});
    queued.result.catch(() => {});
    await leaver!.close();

    await waitFor(() => endpoint.requests[0]!.outcome, 15_000, 'the running request to end');
    assert.equal(endpoint.requests[0]!.outcome, 'aborted');
    // The slot is free again and the dropped call never ran: the next call is the second request.
    const status = await stayer!.client.callTool({ name: 'status', arguments: {} });
    const calls = (status.structuredContent as { calls: { tool: string }[] }).calls;
    assert.deepEqual(calls.map((c) => c.tool), ['status'], 'only the status call itself is left');
    const next = chat(stayer!, 'from the client that stayed');
    await endpoint.waitForRequests(2, 15_000);
    assert.equal(promptOf(endpoint, 1), 'from the client that stayed');
    assert.equal(endpoint.requests.length, 2);
    next.result.catch(() => {});
  });
});
