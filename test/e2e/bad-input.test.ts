import { CallToolResultSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import {
  cleanUp,
  startDaemon,
  startShimClient,
  type DaemonProcess,
  type ShimClient,
} from '../support/exai-processes.ts';
import { codeOf, textOf } from '../support/tool-calls.ts';

// Bad input from one client, through real shims into a real daemon: each
// mistake gets an answer that names it, and a second client on the same
// daemon keeps getting its own correct answers throughout.

const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
const PACKAGE_VERSION = (JSON.parse(PACKAGE_JSON) as { version: string }).version;

// A prompt that makes the scripted endpoint answer HTTP 400.
const FAILING_PROMPT = 'please answer 400';

const endpoints: ScriptedEndpoint[] = [];
async function closeAll(): Promise<void> {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
}
after(closeAll);

interface Setup {
  endpoint: ScriptedEndpoint;
  daemon: DaemonProcess;
  /** The client that makes the mistakes. */
  careless: ShimClient;
  /** The client that only asks good questions. */
  bystander: ShimClient;
}

/** A daemon whose environment has a Kimi key but no GLM key, and two clients. */
async function setUp(): Promise<Setup> {
  const endpoint = await startScriptedEndpoint({
    reply: (request) => {
      const prompt = request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
      if (prompt !== FAILING_PROMPT) return echoReply(request);
      return { kind: 'status', status: 400, message: 'bad request' };
    },
  });
  endpoints.push(endpoint);
  const env = { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl };
  const daemon = await startDaemon({ env });
  const [careless, bystander] = await Promise.all([
    startShimClient({ stateDir: daemon.stateDir, clientName: 'careless' }),
    startShimClient({ stateDir: daemon.stateDir, clientName: 'bystander' }),
  ]);
  return { endpoint, daemon, careless: careless!, bystander: bystander! };
}

function call(shim: ShimClient, name: string, args: Record<string, unknown> = {}) {
  const params = { name, arguments: args };
  const result = shim.client.callTool(params, CallToolResultSchema, { timeout: 30_000 });
  return result as Promise<CallToolResult>;
}

/** The bystander asks, gets its own answer, and the daemon is still the same process. */
async function assertBystanderServed(setup: Setup, prompt: string): Promise<void> {
  const result = await call(setup.bystander, 'chat', { prompt });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(textOf(result), `Answer to: ${prompt}`);
  assert.equal(setup.daemon.child.exitCode, null, 'the daemon exited');
}

describe('bad input through real shims', () => {
  afterEach(closeAll);

  test('an unknown tool gets JSON-RPC error -32602 naming the tool', async () => {
    const setup = await setUp();

    await assert.rejects(call(setup.careless, 'no-such-tool'), (err: unknown) => {
      assert.ok(err instanceof McpError, `expected an McpError, got ${String(err)}`);
      assert.equal(err.code, -32602);
      assert.match(err.message, /"no-such-tool"/);
      assert.match(err.message, /chat/, 'the message lists the tools there are');
      return true;
    });

    await assertBystanderServed(setup, 'after an unknown tool');
    // The careless client's own connection is still usable too.
    assert.match(textOf(await call(setup.careless, 'version')), /^exai /);
  });

  test('chat without a prompt gets an isError result saying the arguments are invalid', async () => {
    const setup = await setUp();

    const result = await call(setup.careless, 'chat', {});

    assert.equal(result.isError, true);
    assert.match(textOf(result), /invalid arguments/);
    assert.match(textOf(result), /prompt/);
    assert.equal(codeOf(result), 'INVALID_ARGUMENTS');
    assert.equal(setup.endpoint.requests.length, 0, 'an invalid call reached the provider');
    await assertBystanderServed(setup, 'after a missing prompt');
  });

  test('chat with an unknown key gets an isError result saying the arguments are invalid', async () => {
    const setup = await setUp();

    const result = await call(setup.careless, 'chat', { prompt: 'hello', colour: 'blue' });

    assert.equal(result.isError, true);
    assert.match(textOf(result), /invalid arguments/);
    assert.match(textOf(result), /colour/);
    assert.equal(codeOf(result), 'INVALID_ARGUMENTS');
    assert.equal(setup.endpoint.requests.length, 0, 'an invalid call reached the provider');
    await assertBystanderServed(setup, 'after an unknown key');
  });

  test('an unknown model gets an isError result naming the model', async () => {
    const setup = await setUp();

    const result = await call(setup.careless, 'chat', { prompt: 'hello', model: 'no-such-model' });

    assert.equal(result.isError, true);
    assert.match(textOf(result), /"no-such-model"/);
    assert.match(textOf(result), /not known/);
    assert.equal(codeOf(result), 'UNKNOWN_MODEL');
    assert.equal(setup.endpoint.requests.length, 0);
    await assertBystanderServed(setup, 'after an unknown model');
  });

  test('a model whose provider has no key gets an isError result naming the variable to set', async () => {
    const setup = await setUp();

    const result = await call(setup.careless, 'chat', { prompt: 'hello', model: 'glm-4.6' });

    assert.equal(result.isError, true);
    assert.match(textOf(result), /GLM_API_KEY/);
    assert.match(textOf(result), /glm-4\.6/);
    assert.equal(codeOf(result), 'NO_API_KEY');
    assert.equal(setup.endpoint.requests.length, 0);
    await assertBystanderServed(setup, 'after a model with no key');
  });

  test('a provider that answers 400 gives an isError result naming the provider and the status', async () => {
    const setup = await setUp();

    const result = await call(setup.careless, 'chat', { prompt: FAILING_PROMPT });

    assert.equal(result.isError, true);
    assert.match(textOf(result), /kimi/);
    assert.match(textOf(result), /400/);
    assert.match(textOf(result), /bad request/);
    assert.equal(codeOf(result), 'PROVIDER_FAILED');
    // 400 is the caller's fault: it is not retried.
    assert.equal(setup.endpoint.requests.length, 1);
    await assertBystanderServed(setup, 'after a provider error');
  });

  test("a client making every mistake at once never disturbs another client's calls", async () => {
    const setup = await setUp();
    const mistakes: Array<() => Promise<unknown>> = [
      () => call(setup.careless, 'no-such-tool').catch((err: unknown) => err),
      () => call(setup.careless, 'chat', {}),
      () => call(setup.careless, 'chat', { prompt: 'x', colour: 'blue' }),
      () => call(setup.careless, 'chat', { prompt: 'x', model: 'no-such-model' }),
      () => call(setup.careless, 'chat', { prompt: 'x', model: 'glm-4.6' }),
      () => call(setup.careless, 'chat', { prompt: FAILING_PROMPT }),
    ];

    // Mistakes and good questions interleaved, all in flight at once.
    const good = mistakes.map((_, i) => call(setup.bystander, 'chat', { prompt: `good question ${i}` }));
    const bad = mistakes.map((m) => m());
    const answers = await Promise.all(good);
    const failures = await Promise.all(bad);

    assert.deepEqual(answers.map(textOf), mistakes.map((_, i) => `Answer to: good question ${i}`));
    assert.ok(failures[0] instanceof McpError);
    assert.deepEqual(
      failures.slice(1).map((r) => codeOf(r as CallToolResult)),
      ['INVALID_ARGUMENTS', 'INVALID_ARGUMENTS', 'UNKNOWN_MODEL', 'NO_API_KEY', 'PROVIDER_FAILED'],
    );
    await assertBystanderServed(setup, 'at the end');
  });
});

// Read-only calls: one daemon and two clients serve the whole group.
describe('tools that call no model', () => {
  let setup: Setup;
  before(async () => {
    setup = await setUp();
  });
  after(closeAll);

  test('tools/list lists every tool with an object input schema and a description', async () => {
    const { tools } = await setup.careless.client.listTools();

    assert.deepEqual(tools.map((t) => t.name), [
      'chat', 'thinkdeep', 'debug', 'codereview', 'analyze', 'precommit', 'consensus',
      'planner', 'challenge', 'listmodels', 'version', 'status',
    ]);
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object', `${tool.name} has no object schema`);
      assert.ok(tool.description && tool.description.length > 0, `${tool.name} has no description`);
    }
    const chat = tools.find((t) => t.name === 'chat')!;
    assert.ok(chat.inputSchema.properties && 'prompt' in chat.inputSchema.properties);
    assert.deepEqual(chat.inputSchema.required, ['prompt']);
  });

  test('listmodels shows the known models and which providers have a key', async () => {
    const result = await call(setup.careless, 'listmodels');

    assert.equal(result.isError, undefined);
    const lines = textOf(result).split('\n');
    assert.match(lines.find((l) => l.includes('kimi-k2-0905-preview'))!, /available/);
    assert.match(lines.find((l) => l.includes('glm-4.6'))!, /no key/);
    type Models = { models: { name: string; isAvailable: boolean }[] };
    const { models } = result.structuredContent as Models;
    assert.equal(models.find((m) => m.name === 'kimi-k2-0905-preview')?.isAvailable, true);
    assert.equal(models.find((m) => m.name === 'glm-4.6')?.isAvailable, false);
  });

  test('version names the version of package.json', async () => {
    const result = await call(setup.careless, 'version');

    assert.equal(result.isError, undefined);
    assert.match(textOf(result), new RegExp(`^exai ${PACKAGE_VERSION.replaceAll('.', '\\.')} \\(node `));
    assert.equal((result.structuredContent as { version: string }).version, PACKAGE_VERSION);
  });

  test('status shows both sessions by client name and shim pid, and the status call itself', async () => {
    // A shim links to the daemon after its client's initialize; a call proves the link is up.
    await call(setup.bystander, 'version');

    const result = await call(setup.careless, 'status');

    assert.equal(result.isError, undefined);
    const report = result.structuredContent as {
      pid: number;
      version: string;
      sessions: { name: string }[];
      calls: { tool: string; session: string; state: string }[];
    };
    assert.equal(report.pid, setup.daemon.pid);
    assert.equal(report.version, PACKAGE_VERSION);
    assert.deepEqual(
      report.sessions.map((s) => s.name).sort(),
      [`bystander-${setup.bystander.pid}`, `careless-${setup.careless.pid}`],
    );
    assert.deepEqual(
      report.calls.map((c) => [c.tool, c.session, c.state]),
      [['status', `careless-${setup.careless.pid}`, 'running']],
    );
    assert.match(textOf(result), /sessions \(2\)/);
  });
});
