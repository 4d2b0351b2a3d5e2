import { McpError } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import {
  cleanUp,
  makeStateDir,
  runExai,
  startDaemon,
  startShimClient,
  waitFor,
} from '../support/exai-processes.ts';
import { Gate } from '../support/gate.ts';
import { chat, textOf } from '../support/tool-calls.ts';

// `exai` from a terminal: each test runs the real command line against a
// daemon it started, with a scripted endpoint standing in for Kimi.

const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
const PACKAGE_VERSION = (JSON.parse(PACKAGE_JSON) as { version: string }).version;
const VERSION_PATTERN = PACKAGE_VERSION.replaceAll('.', '\\.');
const UNKNOWN_MODEL_JSON = '{"prompt":"x","model":"nope"}';
const WAIT_MS = 15_000;

const endpoints: ScriptedEndpoint[] = [];
const gates: Gate[] = [];
afterEach(async () => {
  // An endpoint closes only once its held requests are let go.
  for (const gate of gates.splice(0)) gate.open();
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});
after(cleanUp);

/** An endpoint that holds every chat request until the returned gate opens. */
async function gatedEndpoint(): Promise<{ endpoint: ScriptedEndpoint; gate: Gate }> {
  const gate = new Gate();
  gates.push(gate);
  const endpoint = await startScriptedEndpoint({
    reply: async (request) => {
      await gate.pass();
      return echoReply(request);
    },
  });
  endpoints.push(endpoint);
  return { endpoint, gate };
}

async function echoEndpoint(): Promise<ScriptedEndpoint> {
  const endpoint = await startScriptedEndpoint();
  endpoints.push(endpoint);
  return endpoint;
}

function kimiEnv(endpoint: ScriptedEndpoint): Record<string, string> {
  return { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl };
}

interface StatusJson {
  pid: number;
  sessions: { name: string }[];
  calls: { session: string; tool: string; state: string; provider?: string; model?: string }[];
}

describe('exai as a command', () => {
  test('exai --version prints the version of package.json', async () => {
    const run = await runExai(['--version']);

    assert.equal(run.code, 0);
    assert.equal(run.stdout.trim(), PACKAGE_VERSION);
  });

  test('exai --help lists every command', async () => {
    const run = await runExai(['--help']);

    assert.equal(run.code, 0);
    for (const command of ['daemon', 'shim', 'status', 'call', 'stop', 'demo']) {
      assert.match(run.stdout, new RegExp(`^- ${command} - `, 'm'), `--help does not list ${command}`);
    }
  });

  test('exai status with no daemon exits 1 and says none is reachable', async () => {
    const stateDir = makeStateDir();

    const run = await runExai(['status', '--state-dir', stateDir]);

    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /Cannot reach the exai daemon/);
    assert.match(run.stderr, /no daemon is running/);
    // status only looks: it never starts a daemon.
    assert.equal(existsSync(join(stateDir, 'daemon.json')), false);
  });
});

describe('exai call', () => {
  test('exai call version prints the daemon version on stdout and exits 0', async () => {
    const daemon = await startDaemon();

    const run = await runExai(['call', 'version', '--state-dir', daemon.stateDir]);

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^exai ${VERSION_PATTERN} \\(node `));
  });

  test('exai call chat --arg prompt=hello prints the answer and its continuation_id on stdout and exits 0', async () => {
    const endpoint = await echoEndpoint();
    const daemon = await startDaemon({ env: kimiEnv(endpoint) });

    const argv = ['call', 'chat', '--arg', 'prompt=hello', '--state-dir', daemon.stateDir];
    const run = await runExai(argv);

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Answer to: hello\ncontinuation_id: [0-9a-f-]{36} \(/);
    assert.equal(endpoint.requests.length, 1);
    assert.equal(endpoint.requests[0]!.model, 'kimi-k2-0905-preview');
  });

  test('exai call chat --json with an unknown model prints the error on stderr and nothing on stdout', async () => {
    const endpoint = await echoEndpoint();
    const daemon = await startDaemon({ env: kimiEnv(endpoint) });

    const argv = ['call', 'chat', '--json', UNKNOWN_MODEL_JSON, '--state-dir', daemon.stateDir];
    const run = await runExai(argv);

    assert.equal(run.stdout, '');
    assert.match(run.stderr, /"nope"/);
    assert.match(run.stderr, /not known/);
    assert.equal(endpoint.requests.length, 0);
  });
});

describe('exai status', () => {
  test('exai status --json shows a named session and its held call running at kimi; plain status prints tables', async () => {
    const { endpoint, gate } = await gatedEndpoint();
    const daemon = await startDaemon({ env: kimiEnv(endpoint) });
    const args = ['--no-autostart', '--name', 'held-window'];
    const shim = await startShimClient({ stateDir: daemon.stateDir, args });
    const held = chat(shim, 'held at the gate');
    await endpoint.waitForRequests(1, WAIT_MS);

    // --json goes last: see "known bugs" below for --json before another option.
    const json = await runExai(['status', '--state-dir', daemon.stateDir, '--json']);
    const plain = await runExai(['status', '--state-dir', daemon.stateDir]);

    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as StatusJson;
    assert.equal(report.pid, daemon.pid);
    const names = report.sessions.map((s) => s.name);
    assert.ok(names.includes('held-window'), `sessions: ${names.join(', ')}`);
    const chats = report.calls.filter((c) => c.tool === 'chat');
    assert.equal(chats.length, 1);
    const { session, state, provider, model } = chats[0]!;
    assert.deepEqual(
      { session, state, provider, model },
      { session: 'held-window', state: 'running', provider: 'kimi', model: 'kimi-k2-0905-preview' },
    );

    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`^exai ${VERSION_PATTERN}  pid ${daemon.pid}  up `));
    assert.match(plain.stdout, /^providers$/m);
    assert.match(plain.stdout, /^ {2}NAME +RUNNING +QUEUED +LIMIT$/m);
    assert.match(plain.stdout, /^ {2}kimi +1 +0 +5$/m);
    assert.match(plain.stdout, /^sessions \(\d+\)$/m);
    assert.match(plain.stdout, /^ {2}held-window +\S+ +1 +0$/m);
    assert.match(plain.stdout, /^ {2}c\d+ +held-window +chat +running +kimi +\S+$/m);

    gate.open();
    assert.equal(textOf(await held.result), 'Answer to: held at the gate');
  });
});

describe('exai stop', () => {
  test('exai stop fails the queued call, lets the running call finish, and the daemon exits', async () => {
    const { endpoint, gate } = await gatedEndpoint();
    const daemon = await startDaemon({ args: ['--max-inflight', '1'], env: kimiEnv(endpoint) });
    const [first, second] = await Promise.all([
      startShimClient({ stateDir: daemon.stateDir, clientName: 'first' }),
      startShimClient({ stateDir: daemon.stateDir, clientName: 'second' }),
    ]);
    const running = chat(first!, 'running when stop came');
    await endpoint.waitForRequests(1, WAIT_MS);
    const queued = chat(second!, 'queued when stop came');
    const isQueued = () => queued.progress.find((m) => m.startsWith('queued:'));
    await waitFor(isQueued, WAIT_MS, 'the second call queued');

    const stop = runExai(['stop', '--state-dir', daemon.stateDir]);

    // The queued call fails at once: that is the drain beginning.
    await assert.rejects(queued.result, (err: unknown) => {
      assert.ok(err instanceof McpError, `expected an McpError, got ${String(err)}`);
      assert.equal(err.code, -32004);
      assert.match(err.message, /stopping/);
      return true;
    });
    // The running call is let go during the drain and still gets its answer.
    gate.open();
    assert.equal(textOf(await running.result), 'Answer to: running when stop came');

    const stopped = await stop;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`pid ${daemon.pid}`));
    assert.equal(await daemon.exited, 0);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.json')), false);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.lock')), false);
    assert.equal(endpoint.requests.length, 1, 'the queued call reached the provider');
  });

  test('exai stop with no daemon exits 1 and says none is running', async () => {
    const stateDir = makeStateDir();

    const run = await runExai(['stop', '--state-dir', stateDir]);

    assert.equal(run.code, 1);
    assert.match(run.stderr, /none is running/);
  });
});

describe('exai CLI exit codes and flag order', () => {
  test('exai call chat --json with an unknown model exits 1 with the error on stderr', async () => {
    const endpoint = await echoEndpoint();
    const daemon = await startDaemon({ env: kimiEnv(endpoint) });

    const argv = ['call', 'chat', '--json', UNKNOWN_MODEL_JSON, '--state-dir', daemon.stateDir];
    const run = await runExai(argv);

    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /"nope"/);
  });

  // `status --json` is a flag and `call --json` an option with a value: the
  // flag must not swallow the option that follows it.
  test('exai status --json --state-dir DIR prints the report as JSON', async () => {
    const daemon = await startDaemon();

    const run = await runExai(['status', '--json', '--state-dir', daemon.stateDir]);

    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as StatusJson).pid, daemon.pid);
  });
});
