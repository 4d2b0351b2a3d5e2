import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import { isProcessAlive } from '../../src/state/daemon-record.ts';
import {
  cleanUp,
  exaiCommand,
  makeStateDir,
  startDaemon,
  startShimClient,
  testEnv,
  waitFor,
} from '../support/exai-processes.ts';
import { Gate } from '../support/gate.ts';
import { textOf } from '../support/tool-calls.ts';
import { typeScriptRunner } from '../support/runtime.ts';

const endpoints: ScriptedEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});

/** Pids of every `exai daemon` process whose command line names `stateDir`. */
function daemonsOf(stateDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('daemon') && argv.includes(stateDir)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

function rawShim(stateDir: string, env: Record<string, string> = {}) {
  const { command, args } = exaiCommand();
  const child = spawn(command, [...args, 'shim', '--state-dir', stateDir, '--no-autostart'], {
    env: testEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  const lines = () => stdout.split('\n').filter((l) => l !== '');
  const send = (message: unknown) => child.stdin.write(typeof message === 'string' ? message : JSON.stringify(message) + '\n');
  return { child, lines, send };
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

describe('exai shim', () => {
  test('answers initialize with no daemon and fails a later request clearly after the connect timeout', async () => {
    const stateDir = makeStateDir();
    const shim = rawShim(stateDir, { EXAI_CONNECT_TIMEOUT: '1' });

    shim.send(initialize);
    shim.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    shim.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    const [init, list] = await waitFor(() => {
      const lines = shim.lines();
      return lines.length >= 2 ? lines.map((l) => JSON.parse(l)) : undefined;
    }, 15_000, 'two answers');

    assert.equal(init.id, 1);
    assert.equal(init.result.serverInfo.name, 'exai');
    assert.equal(init.result.protocolVersion, '2025-06-18');
    assert.equal(list.id, 2);
    assert.equal(list.error.code, -32001);
    assert.match(list.error.message, /Cannot reach the exai daemon: no connection within 1 s/);
    shim.child.stdin.end();
    await once(shim.child, 'exit');
  });

  test('writes nothing but JSON-RPC frames to stdout and answers a bad line with a parse error', async () => {
    const daemon = await startDaemon();
    const shim = rawShim(daemon.stateDir);

    shim.send(initialize);
    shim.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    shim.send('this is not json\n');
    shim.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'version', arguments: {} } });
    const messages = await waitFor(() => {
      const lines = shim.lines();
      return lines.length >= 3 ? lines.map((l) => JSON.parse(l)) : undefined;
    }, 15_000, 'three frames');
    shim.child.stdin.end();
    await once(shim.child, 'exit');

    for (const message of messages) assert.equal(message.jsonrpc, '2.0');
    assert.equal(messages[1].error.code, -32700);
    assert.equal(messages[1].id, null);
    assert.match(messages[2].result.content[0].text, /^exai \d+\.\d+\.\d+/);
    assert.equal(shim.lines().length, 3, 'stdout carried something besides the three answers');
  });

  test('three shims racing with no daemon start exactly one and all use it', async () => {
    const stateDir = makeStateDir();
    const shims = await Promise.all(
      [1, 2, 3].map((i) => startShimClient({ stateDir, clientName: `racer-${i}`, args: [], env: { EXAI_WS_PORT: '0' } })),
    );

    const answers = await Promise.all(shims.map((s) => s.client.callTool({ name: 'version', arguments: {} })));

    for (const answer of answers) assert.equal(answer.isError, undefined);
    const record = JSON.parse(readFileSync(`${stateDir}/daemon.json`, 'utf8')) as { pid: number };
    // Losers of the race exit at once; give them a moment to be gone.
    const daemons = await waitFor(() => {
      const pids = daemonsOf(stateDir);
      return pids.length === 1 ? pids : undefined;
    }, 10_000, 'a single daemon');
    assert.deepEqual(daemons, [record.pid]);
  });

  test('a call running when the daemon is killed fails at once, and the next call works when a daemon is back', async () => {
    const gate = new Gate();
    const endpoint = await startScriptedEndpoint({
      reply: async (request) => {
        await gate.pass();
        return echoReply(request);
      },
    });
    endpoints.push(endpoint);
    const env = { KIMI_API_KEY: 'k', KIMI_API_URL: endpoint.baseUrl };
    const first = await startDaemon({ env });
    const shim = await startShimClient({ stateDir: first.stateDir });

    const call = shim.client.callTool({ name: 'chat', arguments: { prompt: 'doomed' } }, CallToolResultSchema, {
      timeout: 60_000,
    });
    await endpoint.waitForRequests(1, 15_000);
    first.child.kill('SIGKILL');
    await assert.rejects(call, (err: Error & { code?: number }) => {
      assert.equal(err.code, -32001);
      assert.match(err.message, /daemon went away while the call ran/);
      return true;
    });

    gate.open();
    await startDaemon({ stateDir: first.stateDir, env });
    const after = await shim.client.callTool({ name: 'chat', arguments: { prompt: 'again' } }, CallToolResultSchema, {
      timeout: 60_000,
    });
    assert.equal(textOf(after as CallToolResult), 'Answer to: again');
  });

  test('exits when its stdin closes', async () => {
    const stateDir = makeStateDir();
    const shim = rawShim(stateDir);
    shim.send(initialize);
    await waitFor(() => (shim.lines().length >= 1 ? true : undefined), 15_000, 'initialize answered');

    shim.child.stdin.end();
    const [code] = await once(shim.child, 'exit');
    assert.equal(code, 0);
  });

  test('exits when its parent is killed even though its stdin stays open', async () => {
    const stateDir = makeStateDir();
    const fixture = fileURLToPath(new URL('../fixtures/shim-parent.ts', import.meta.url));
    // The test holds the stdin pipe that parent and shim share, so only the
    // parent's death can tell the shim to go.
    const [runner, ...runnerArgs] = typeScriptRunner();
    const parent = spawn(runner, [...runnerArgs, fixture, stateDir], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: testEnv(),
    });
    const [line] = await once(parent.stdout.setEncoding('utf8'), 'data');
    const shimPid = Number(String(line).trim());
    assert.ok(isProcessAlive(shimPid));

    parent.kill('SIGKILL');
    await waitFor(() => (isProcessAlive(shimPid) ? undefined : true), 10_000, 'the shim to exit');
    parent.stdin.end();
  });
});
