import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import WebSocket from 'ws';
import { echoReply, startScriptedEndpoint, type Reply, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import { cleanUp, makeStateDir, signal, startDaemon, startShimClient, waitFor } from '../support/exai-processes.ts';
import { Gate } from '../support/gate.ts';
import { chat, codeOf, textOf } from '../support/tool-calls.ts';

const endpoints: ScriptedEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});

async function endpointWith(reply: (r: Parameters<typeof echoReply>[0]) => Reply | Promise<Reply>) {
  const endpoint = await startScriptedEndpoint({ reply });
  endpoints.push(endpoint);
  return { endpoint, env: { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl } };
}

describe('time limits', () => {
  test('--call-timeout aborts a running call with a clear error and frees its slot', async () => {
    let seq = 0;
    const { endpoint, env } = await endpointWith((r) => (++seq === 1 ? { kind: 'hang' } : echoReply(r)));
    const daemon = await startDaemon({ args: ['--max-inflight', '1', '--call-timeout', '1'], env });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const timedOut = await chat(shim, 'hangs forever').result;
    const next = await chat(shim, 'answered').result;

    assert.equal(timedOut.isError, true);
    assert.equal(codeOf(timedOut), 'CALL_TIMEOUT');
    assert.match(textOf(timedOut), /kimi gave no answer within the call timeout of 1 s/);
    assert.equal(endpoint.requests[0]!.outcome, 'aborted');
    assert.equal(textOf(next), 'Answer to: answered');
  });

  test('--queue-timeout fails a waiting call with the running and waiting counts', async () => {
    const { endpoint, env } = await endpointWith(() => ({ kind: 'hang' }));
    const daemon = await startDaemon({ args: ['--max-inflight', '1', '--queue-timeout', '1'], env });
    const [a, b] = await Promise.all([startShimClient({ stateDir: daemon.stateDir }), startShimClient({ stateDir: daemon.stateDir })]);

    const running = chat(a, 'holds the only slot');
    running.result.catch(() => {});
    await endpoint.waitForRequests(1, 15_000);
    const waiting = await chat(b, 'waits too long').result;

    assert.equal(waiting.isError, true);
    assert.equal(codeOf(waiting), 'QUEUE_TIMEOUT');
    assert.match(textOf(waiting), /still queued after 1 s \(global: 1 running, \d+ waiting; kimi: \d+ running, \d+ waiting\)/);
  });
});

describe('graceful stop', () => {
  test('SIGTERM fails queued calls clearly, lets the running call finish, then removes daemon.json', async () => {
    const gate = new Gate();
    const { endpoint, env } = await endpointWith(async (r) => {
      await gate.pass();
      return echoReply(r);
    });
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env });
    const [a, b] = await Promise.all([startShimClient({ stateDir: daemon.stateDir }), startShimClient({ stateDir: daemon.stateDir })]);
    const running = chat(a, 'finishes during the drain');
    await endpoint.waitForRequests(1, 15_000);
    const queued = chat(b, 'never starts');
    await waitFor(() => queued.progress.find((m) => m.startsWith('queued:')), 15_000, 'the second call queued');

    signal(daemon.child, 'SIGTERM');
    await assert.rejects(queued.result, (err: Error & { code?: number }) => {
      assert.equal(err.code, -32004);
      assert.match(err.message, /the daemon is stopping/);
      return true;
    });
    gate.open();

    assert.equal(textOf(await running.result), 'Answer to: finishes during the drain');
    assert.equal(await daemon.exited, 0);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.json')), false);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.lock')), false);
    assert.equal(endpoint.requests.length, 1);
  });

  test('--idle-exit stops a daemon once its last session has gone', async () => {
    // The shim starts first and waits for the daemon (it retries at least
    // every second), so the 3 s of grace only has to cover one retry.
    const stateDir = makeStateDir();
    const shim = await startShimClient({ stateDir });
    const daemon = await startDaemon({ stateDir, args: ['--idle-exit', '3'] });
    await shim.client.callTool({ name: 'version', arguments: {} });
    assert.equal(daemon.child.exitCode, null, 'the daemon left while a session was open');

    await shim.close();
    assert.equal(await daemon.exited, 0);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.json')), false);
  });
});

describe('limits at the door', () => {
  test('a session over --max-calls-per-session gets a clear error and the others are not affected', async () => {
    const { endpoint, env } = await endpointWith(() => ({ kind: 'hang' }));
    const daemon = await startDaemon({ args: ['--max-calls-per-session', '1'], env });
    const [busy, other] = await Promise.all([startShimClient({ stateDir: daemon.stateDir }), startShimClient({ stateDir: daemon.stateDir })]);

    const first = chat(busy, 'takes the session slot');
    first.result.catch(() => {});
    await endpoint.waitForRequests(1, 15_000);
    const refused = await busy.client.callTool({ name: 'version', arguments: {} }).catch((e: Error) => e);
    const fine = await other.client.callTool({ name: 'version', arguments: {} });

    assert.ok(!(refused instanceof Error));
    assert.equal((refused as CallToolResult).isError, true);
    assert.equal(codeOf(refused as CallToolResult), 'TOO_MANY_CALLS');
    assert.match(textOf(refused as CallToolResult), /this session already has 1 calls running and 0 queued \(limit 1\)/);
    assert.equal(fine.isError, undefined);
  });

  test('connections over --max-connections are refused with HTTP 503', async () => {
    const daemon = await startDaemon({ args: ['--max-connections', '1'] });
    const token = readFileSync(join(daemon.stateDir, 'token'), 'utf8').trim();
    const open = (): Promise<WebSocket | number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}`, 'mcp', { headers: { authorization: `Bearer ${token}` } });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });

    const first = await open();
    const second = await open();

    assert.ok(first instanceof WebSocket);
    assert.equal(second, 503);
    first.close();
  });
});

describe('secrets stay out of the logs', () => {
  test('neither the token nor a prompt appears in any log at info', async () => {
    const { env } = await endpointWith((r) => echoReply(r));
    const daemon = await startDaemon({ env });
    const shim = await startShimClient({ stateDir: daemon.stateDir, clientName: 'secretive' });
    await chat(shim, 'a very private question 8d1f').result;
    await shim.close();
    await daemon.stop();

    const token = readFileSync(join(daemon.stateDir, 'token'), 'utf8').trim();
    const logs = readdirSync(join(daemon.stateDir, 'logs')).map((f) => readFileSync(join(daemon.stateDir, 'logs', f), 'utf8'));
    assert.ok(logs.length >= 2, 'expected the daemon log and a shim log');
    for (const log of logs) {
      assert.ok(!log.includes(token), 'the token is in a log');
      assert.ok(!log.includes('8d1f'), 'the prompt is in a log');
      assert.ok(!log.includes('test-kimi-key'), 'the provider key is in a log');
    }
  });
});

describe('a daemon that is away', () => {
  test('a call made while the daemon is down waits for it and is answered once it is back', async () => {
    const { env } = await endpointWith((r) => echoReply(r));
    const first = await startDaemon({ env });
    const shim = await startShimClient({ stateDir: first.stateDir });
    await shim.client.callTool({ name: 'version', arguments: {} });
    await first.stop();

    const pending = chat(shim, 'asked while nobody listened');
    await startDaemon({ stateDir: first.stateDir, env });

    assert.equal(textOf(await pending.result), 'Answer to: asked while nobody listened');
  });
});
