import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import type { StatusReport } from '../../src/protocol/status.ts';
import { isProcessAlive } from '../../src/state/daemon-record.ts';
import { cleanUp, startDaemon, startShimClient, waitFor, type ShimClient } from '../support/exai-processes.ts';

// A storm of connections that open and drop in every way a crashing or
// impatient client can, against one daemon, while one well-behaved client
// keeps working. Afterwards the daemon must hold nothing of the storm: no
// session, no call, no file descriptor.
//
// 300 connections in waves of 50: a wave is well under the daemon's default
// --max-connections (256), so no connection is refused for room, and six
// waves give each of the six ways of leaving fifty tries.
const WAVES = 6;
const WAVE_SIZE = 50;
// Each raw connection must be over within this; the whole storm is bounded by it.
const CONNECTION_BOUND_MS = 15_000;
// Descriptors the daemon may hold beyond its count before the storm. Its HTTP
// client keeps idle sockets to the provider (one per call that ran at once,
// --max-inflight 10) for a few seconds, so the count is polled, not read once.
const FD_MARGIN = 10;

const endpoints: ScriptedEndpoint[] = [];
const shims: ShimClient[] = [];
afterEach(async () => {
  await Promise.allSettled(shims.splice(0).map((s) => s.close()));
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});

/** How a raw connection leaves. */
const LEAVINGS = [
  'gives up during the HTTP upgrade',
  'closes cleanly right after the upgrade',
  'is terminated right after sending initialize',
  'closes cleanly after the initialize handshake',
  'is terminated right after sending a tools/call for version',
  'is terminated while its chat call waits at the provider',
] as const;
type Leaving = (typeof LEAVINGS)[number];

/** What happened to one raw connection. */
interface StormOutcome {
  leaving: Leaving;
  isOpened: boolean;
  isClosed: boolean;
  error?: string;
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'storm', version: '1' } },
};

function openCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function statusOf(shim: ShimClient): Promise<StatusReport> {
  const result = await shim.client.callTool({ name: 'status', arguments: {} });
  return result.structuredContent as unknown as StatusReport;
}

/** Polls an async probe until it returns a value; throws after `timeoutMs` naming what was awaited. */
async function waitForAsync<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
}

/** Opens one raw MCP connection to the daemon and leaves it the given way. */
function stormConnection(url: string, token: string, leaving: Leaving): Promise<StormOutcome> {
  const outcome: StormOutcome = { leaving, isOpened: false, isClosed: false };
  const ws = new WebSocket(url, 'mcp', { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  const send = (message: unknown, then?: () => void) => ws.send(JSON.stringify(message), () => then?.());
  const handshake = (then: () => void) => {
    send(initialize);
    ws.once('message', () => {
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      then();
    });
  };

  ws.on('error', (err) => (outcome.error ??= err.message));
  if (leaving === 'gives up during the HTTP upgrade') {
    // Before the TCP connect, after the request went out, or after the 101: all three happen.
    setTimeout(() => ws.terminate(), Math.floor(Math.random() * 40));
  }
  ws.on('open', () => {
    outcome.isOpened = true;
    switch (leaving) {
      case 'gives up during the HTTP upgrade':
        return;
      case 'closes cleanly right after the upgrade':
        return ws.close(1000);
      case 'is terminated right after sending initialize':
        return send(initialize, () => ws.terminate());
      case 'closes cleanly after the initialize handshake':
        return handshake(() => ws.close(1000));
      case 'is terminated right after sending a tools/call for version':
        return handshake(() =>
          send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'version', arguments: {} } }, () =>
            ws.terminate(),
          ),
        );
      case 'is terminated while its chat call waits at the provider':
        return handshake(() => {
          const params = { name: 'chat', arguments: { prompt: 'storm' } };
          send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params });
          // Queued, running or not yet read: each is a way to be dropped.
          setTimeout(() => ws.terminate(), Math.floor(Math.random() * 50));
        });
    }
  });

  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ ...outcome, error: outcome.error ?? `not over within ${CONNECTION_BOUND_MS} ms` });
    }, CONNECTION_BOUND_MS);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve({ ...outcome, isClosed: true });
    });
  });
}

describe('connection storm', () => {
  const name = '300 connections opened and dropped leave only the steady session, a live daemon and no leaked descriptors';
  test(name, { timeout: 120_000 }, async (t) => {
    const endpoint = await startScriptedEndpoint({ reply: () => ({ kind: 'hang' }) });
    endpoints.push(endpoint);
    const daemon = await startDaemon({ env: { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl } });
    const token = readFileSync(join(daemon.stateDir, 'token'), 'utf8').trim();
    const url = `ws://127.0.0.1:${daemon.port}`;
    const steady = await startShimClient({ stateDir: daemon.stateDir, clientName: 'steady' });
    shims.push(steady);
    await steady.client.callTool({ name: 'version', arguments: {} });
    const fdsBefore = openCount(daemon.pid);

    // The steady client calls version back to back for as long as the storm lasts.
    let isStorming = true;
    const steadyAnswers: string[] = [];
    const steadyFailures: string[] = [];
    const steadyLoop = (async () => {
      while (isStorming) {
        try {
          const request = { name: 'version', arguments: {} };
          const result = await steady.client.callTool(request, undefined, { timeout: 10_000 });
          const text = (result.content as { type: string; text?: string }[])[0]?.text ?? '';
          if (/^exai \d+\.\d+\.\d+/.test(text) && result.isError !== true) steadyAnswers.push(text);
          else steadyFailures.push(`unexpected answer: ${JSON.stringify(result)}`);
        } catch (err) {
          steadyFailures.push((err as Error).message);
        }
      }
    })();

    const outcomes: StormOutcome[] = [];
    const stormStarted = performance.now();
    for (let wave = 0; wave < WAVES; wave++) {
      const answersBefore = steadyAnswers.length;
      const connections = Array.from({ length: WAVE_SIZE }, (_, i) =>
        stormConnection(url, token, LEAVINGS[(wave * WAVE_SIZE + i) % LEAVINGS.length]!),
      );
      outcomes.push(...(await Promise.all(connections)));
      // The steady client is served while the storm goes on, not only after it.
      const isServed = () => (steadyAnswers.length > answersBefore ? true : undefined);
      await waitFor(isServed, 10_000, `a steady answer in wave ${wave + 1}`);
    }
    const stormMs = performance.now() - stormStarted;
    isStorming = false;
    await steadyLoop;

    assert.equal(outcomes.length, WAVES * WAVE_SIZE);
    const isRefused = (o: StormOutcome) => !o.isOpened && o.leaving !== 'gives up during the HTTP upgrade';
    const troubled = outcomes.filter((o) => isRefused(o) || !o.isClosed);
    assert.deepEqual(troubled, [], 'connections that were refused or did not end');
    assert.deepEqual(steadyFailures, []);

    // Sessions close asynchronously: wait until only the steady one is left.
    const report = await waitForAsync(async () => {
      const status = await statusOf(steady);
      return status.sessions.length === 1 ? status : undefined;
    }, 15_000, 'only the steady session');
    assert.match(report.sessions[0]!.name, /^steady-\d+$/);
    assert.deepEqual(report.calls.map((c) => c.tool), ['status']);
    assert.equal(report.global.running, 0);
    assert.equal(report.global.waiting, 0);

    // Every chat that reached the provider was aborted when its connection dropped.
    const isAllEnded = () => (endpoint.requests.every((r) => r.outcome !== undefined) ? true : undefined);
    await waitFor(isAllEnded, 15_000, 'every provider request to end');
    assert.deepEqual(endpoint.requests.filter((r) => r.outcome !== 'aborted').map((r) => r.seq), []);

    const errors = readFileSync(join(daemon.stateDir, 'logs', 'daemon.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"level":"error"'));
    assert.deepEqual(errors, [], 'the daemon logged errors');

    assert.ok(isProcessAlive(daemon.pid) && daemon.child.exitCode === null, 'the daemon died');
    let fdsAfter = openCount(daemon.pid);
    try {
      fdsAfter = await waitFor(() => {
        const count = openCount(daemon.pid);
        return count <= fdsBefore + FD_MARGIN ? count : undefined;
      }, 15_000, `the daemon's descriptors to fall back near ${fdsBefore}`);
    } catch {
      // Reported by the assertion below with the numbers.
      fdsAfter = openCount(daemon.pid);
    }
    const leak = `the daemon holds ${fdsAfter} descriptors, ${fdsBefore} before the storm`;
    assert.ok(fdsAfter <= fdsBefore + FD_MARGIN, leak);

    t.diagnostic(
      `storm of ${outcomes.length} connections in ${Math.round(stormMs)} ms ` +
        `(${outcomes.filter((o) => !o.isOpened).length} gave up before the upgrade ended); ` +
        `${steadyAnswers.length} steady answers; ` +
        `${endpoint.requests.length} chats reached the provider; descriptors ${fdsBefore} before, ${fdsAfter} after`,
    );
  });
});
