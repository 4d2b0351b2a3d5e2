import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, describe, test } from 'node:test';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  startScriptedEndpoint,
  type EndpointRequest,
  type Reply,
  type ScriptedEndpoint,
} from '../../src/demo/scripted-endpoint.ts';
import { cleanUp, startDaemon, startShimClient, type ShimClient } from '../support/exai-processes.ts';
import { codeOf, textOf } from '../support/tool-calls.ts';

// Consultation tools end to end: a real daemon, real shims whose clients offer
// MCP roots, and a local OpenAI-compatible endpoint that records every request,
// standing in for Kimi and GLM (the provider code is the production code).

const endpoints: ScriptedEndpoint[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await cleanUp();
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function endpoint(reply?: (request: EndpointRequest) => Reply | Promise<Reply>): Promise<ScriptedEndpoint> {
  const started = await startScriptedEndpoint(reply ? { reply } : {});
  endpoints.push(started);
  return started;
}

function providerEnv(e: ScriptedEndpoint): Record<string, string> {
  return { KIMI_API_KEY: 'test-kimi', KIMI_API_URL: e.baseUrl, GLM_API_KEY: 'test-glm', GLM_API_URL: e.baseUrl };
}

/** A workspace with two source files, and a directory beside it that is not a root. */
function workspace() {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'exai-ws-')));
  dirs.push(base);
  const project = join(base, 'project');
  const outside = join(base, 'outside');
  mkdirSync(join(project, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(project, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(project, 'src', 'b.ts'), 'export const b = 2;\n');
  writeFileSync(join(outside, 'secret.txt'), 'not for models\n');
  return { project, outside, a: join(project, 'src', 'a.ts'), b: join(project, 'src', 'b.ts') };
}

async function call(shim: ShimClient, name: string, args: Record<string, unknown>, progress?: string[]) {
  return (await shim.client.callTool({ name, arguments: args }, CallToolResultSchema, {
    timeout: 60_000,
    ...(progress ? { onprogress: (p: { message?: string }) => progress.push(p.message ?? '') } : {}),
  })) as CallToolResult;
}

function continuationOf(result: CallToolResult): string {
  assert.ok(!result.isError, textOf(result));
  const id = (result.structuredContent as { continuation_id?: string }).continuation_id;
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  const last = result.content.at(-1);
  assert.ok(last?.type === 'text' && last.text.startsWith(`continuation_id: ${id}`), 'the answer ends with its continuation_id');
  return id!;
}

const systemOf = (r: EndpointRequest) => r.messages.find((m) => m.role === 'system')?.content ?? '';
const lastUserOf = (r: EndpointRequest) => r.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
const count = (text: string, part: string) => text.split(part).length - 1;

describe('consultation tools', () => {
  test('each consultation tool asks the model with its own system prompt, the files and its own fields', async () => {
    const e = await endpoint();
    const ws = workspace();
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir, roots: [ws.project] });

    const calls: [string, Record<string, unknown>, RegExp][] = [
      ['chat', { prompt: 'is this fine?' }, /is this fine\?/],
      ['thinkdeep', { prompt: 'my plan is X', focus_areas: ['failure modes'] }, /Focus on: failure modes/],
      ['debug', { prompt: 'it crashes', error_context: 'TypeError: boom', hypothesis: 'a is undefined' }, /TypeError: boom[\s\S]*a is undefined/],
      ['codereview', { prompt: 'a tiny module', review_type: 'security' }, /Review type: security/],
      ['analyze', { prompt: 'how is it built?', analysis_type: 'architecture' }, /Analysis type: architecture/],
    ];
    for (const [name, args, fieldsShown] of calls) {
      const result = await call(shim, name, { ...args, files: [ws.a], model: 'glm-4.6' });
      continuationOf(result);
      const request = e.requests.at(-1)!;
      assert.equal(request.model, 'glm-4.6');
      assert.match(lastUserOf(request), /BEGIN FILE: .*a\.ts[\s\S]*1\| export const a = 1;/, `${name} embeds the file`);
      assert.match(lastUserOf(request), fieldsShown, `${name} shows its own fields`);
    }

    const prompts = new Set(e.requests.map(systemOf));
    assert.equal(prompts.size, calls.length, 'every tool has its own system prompt');
  });

  test('tokens of a streamed answer reach the client as progress while it is written', async () => {
    const e = await endpoint(() => ({ kind: 'text', text: 'one two three four', chunks: 4, chunkDelayMs: 20 }));
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const progress: string[] = [];
    const result = await call(shim, 'thinkdeep', { prompt: 'stream please' }, progress);

    assert.equal(textOf(result), 'one two three four');
    assert.equal(progress.filter((m) => !m.startsWith('queued')).join(''), 'one two three four');
    assert.equal(e.requests[0]!.stream, true);
  });

  test('a model that is silent for a while still gets the client progress while the call runs', async () => {
    // The heartbeat is due 5 s into a silent call; the answer comes at 7 s,
    // leaving a second and more for a loaded machine.
    const e = await endpoint(async () => {
      await delay(7_000);
      return { kind: 'text', text: 'after a long think' } as const;
    });
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const progress: string[] = [];
    const result = await call(shim, 'chat', { prompt: 'think hard', model: 'glm-4.6' }, progress);

    assert.equal(textOf(result), 'after a long think');
    assert.ok(progress.some((m) => /^running: glm-4.6 has been working for [5-7] s$/.test(m)), progress.join(' | '));
  });

  test('precommit sends the git diff of the repository and refuses a repository with no changes', async () => {
    const e = await endpoint();
    const ws = workspace();
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ws.project, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' } });
    git('init', '-q', '-b', 'main');
    git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'add', '.');
    git('-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-q', '-m', 'first');
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir, roots: [ws.project] });

    const clean = await call(shim, 'precommit', { prompt: 'bump a', path: ws.project });
    assert.equal(clean.isError, true);
    assert.equal(codeOf(clean), 'NO_CHANGES');
    assert.equal(e.requests.length, 0);

    writeFileSync(ws.a, 'export const a = 2;\n');
    continuationOf(await call(shim, 'precommit', { prompt: 'bump a', path: ws.project }));
    const sent = lastUserOf(e.requests[0]!);
    assert.match(sent, /GIT DIFF: unstaged changes in /);
    assert.match(sent, /-export const a = 1;\n\+export const a = 2;/);
    assert.match(sent, /bump a/);
  });

  test('consensus asks each voice once with its stance, then one synthesis', async () => {
    const e = await endpoint((r) => ({ kind: 'text', text: `view of ${r.model}` }));
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const result = await call(shim, 'consensus', {
      prompt: 'Should we adopt tabs?',
      models: [{ model: 'kimi', stance: 'for' }, { model: 'glm-4.6', stance: 'against' }],
      model: 'glm-4.5',
    });

    continuationOf(result);
    assert.deepEqual(e.requests.map((r) => r.model), ['kimi-k2-0905-preview', 'glm-4.6', 'glm-4.5']);
    assert.match(systemOf(e.requests[0]!), /You argue FOR/);
    assert.match(systemOf(e.requests[1]!), /You argue AGAINST/);
    assert.match(lastUserOf(e.requests[2]!), /### kimi-k2-0905-preview \(for\)\nview of kimi-k2-0905-preview/);
    assert.match(textOf(result), /^view of glm-4.5\n\n## The views/);
    const views = (result.structuredContent as { views: { model: string; answer: string }[] }).views;
    assert.deepEqual(views.map((v) => v.answer), ['view of kimi-k2-0905-preview', 'view of glm-4.6']);
  });

  test('consensus calls from two clients respect the per-provider bound', async () => {
    const e = await endpoint((r) => ({ kind: 'text', text: `view of ${r.model}`, chunks: 3, chunkDelayMs: 40 }));
    const daemon = await startDaemon({ env: providerEnv(e), args: ['--provider-max-inflight', 'kimi=1', '--max-inflight', '4'] });
    const [one, two] = await Promise.all([
      startShimClient({ stateDir: daemon.stateDir }),
      startShimClient({ stateDir: daemon.stateDir }),
    ]);

    const ask = (shim: ShimClient) =>
      call(shim, 'consensus', {
        prompt: 'Which queue?',
        models: [{ model: 'kimi', stance: 'for' }, { model: 'kimi-turbo', stance: 'against' }],
        model: 'glm-4.6',
      });
    const results = await Promise.all([ask(one), ask(two)]);

    results.forEach(continuationOf);
    const kimi = e.requests.filter((r) => r.model.startsWith('kimi')).sort((a, b) => a.startedAt - b.startedAt);
    assert.equal(kimi.length, 4);
    for (let i = 1; i < kimi.length; i++) {
      assert.ok(kimi[i]!.startedAt >= kimi[i - 1]!.endedAt!, `kimi request ${i} started before request ${i - 1} ended`);
    }
  });

  test('planner keeps a plan step by step without asking a model, and challenge asks none either', async () => {
    const e = await endpoint();
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const first = await call(shim, 'planner', { step: 'Measure', step_number: 1, total_steps: 3, next_step_required: true });
    const id = continuationOf(first);
    await call(shim, 'planner', { step: 'Cut the slow part', step_number: 2, total_steps: 3, next_step_required: true, continuation_id: id });
    await call(shim, 'planner', { step: 'Cache it instead', step_number: 2, total_steps: 3, next_step_required: true, revises_step_number: 2, continuation_id: id });
    await call(shim, 'planner', { step: 'Or buy a faster disk', step_number: 2, total_steps: 3, next_step_required: true, branch_from_step: 1, branch_id: 'hardware', continuation_id: id });
    const last = await call(shim, 'planner', { step: 'Measure again', step_number: 3, total_steps: 3, next_step_required: false, continuation_id: id });

    assert.match(textOf(last), /The plan is complete \(3 steps\)[\s\S]*1\. Measure\n2\. Cache it instead\n3\. Measure again\n\nBranch "hardware" \(from step 1\):\n2\. Or buy a faster disk$/);
    assert.equal((last.structuredContent as { is_complete: boolean }).is_complete, true);

    const challenged = await call(shim, 'challenge', { prompt: 'You are wrong about the cache' });
    assert.match(textOf(challenged), /Do not agree by reflex[\s\S]*You are wrong about the cache/);
    assert.equal(e.requests.length, 0);

    // Any tool continues any thread: chat sees the plan.
    continuationOf(await call(shim, 'chat', { prompt: 'Is this plan sound?', continuation_id: id }));
    const history = e.requests[0]!.messages.map((m) => m.content).join('\n');
    assert.match(history, /Plan step 1 of 3: Measure/);
    assert.match(history, /revises step 2\): Cache it instead/);
  });
});

describe('threads', () => {
  test('a thread continues across tools with its earlier turns and each file embedded once', async () => {
    const e = await endpoint();
    const ws = workspace();
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir, roots: [ws.project] });

    const id = continuationOf(await call(shim, 'chat', { prompt: 'first question', files: [ws.a] }));
    const again = continuationOf(await call(shim, 'codereview', { prompt: 'now review', files: [ws.a, ws.b], continuation_id: id }));

    assert.equal(again, id);
    const second = e.requests[1]!;
    assert.deepEqual(second.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
    assert.match(second.messages[1]!.content, /through the chat tool\) first question/);
    assert.match(second.messages[2]!.content, /^Answer to: /);
    const sent = lastUserOf(second);
    assert.equal(count(sent, `BEGIN FILE: ${ws.a}`), 1);
    assert.equal(count(sent, `BEGIN FILE: ${ws.b}`), 1);
    assert.match(sent, /now review/);
  });

  test('a thread survives a daemon restart', async () => {
    const e = await endpoint();
    const ws = workspace();
    const first = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: first.stateDir, roots: [ws.project] });
    const id = continuationOf(await call(shim, 'chat', { prompt: 'remember the number 42', files: [ws.a] }));

    await first.stop();
    await startDaemon({ stateDir: first.stateDir, env: providerEnv(e) });
    const after = await call(shim, 'chat', { prompt: 'which number?', continuation_id: id });

    assert.equal(continuationOf(after), id);
    const request = e.requests.at(-1)!;
    assert.match(request.messages.map((m) => m.content).join('\n'), /remember the number 42/);
    assert.equal(count(lastUserOf(request), `BEGIN FILE: ${ws.a}`), 1);
  });

  test('a session of another workspace cannot continue the thread', async () => {
    const e = await endpoint();
    const mine = workspace();
    const theirs = workspace();
    const daemon = await startDaemon({ env: providerEnv(e) });
    const [me, them] = await Promise.all([
      startShimClient({ stateDir: daemon.stateDir, roots: [mine.project] }),
      startShimClient({ stateDir: daemon.stateDir, roots: [theirs.project] }),
    ]);
    const id = continuationOf(await call(me, 'chat', { prompt: 'private' }));

    const refused = await call(them, 'chat', { prompt: 'let me in', continuation_id: id });

    assert.equal(refused.isError, true);
    assert.equal(codeOf(refused), 'WRONG_WORKSPACE');
    assert.equal(e.requests.length, 1);
  });

  test('a thread holds at most --thread-max-turns turns; an unknown id is a clear error', async () => {
    const e = await endpoint();
    const daemon = await startDaemon({ env: providerEnv(e), args: ['--thread-max-turns', '4'] });
    const shim = await startShimClient({ stateDir: daemon.stateDir });

    const id = continuationOf(await call(shim, 'chat', { prompt: 'one' }));
    await call(shim, 'chat', { prompt: 'two', continuation_id: id });
    const full = await call(shim, 'chat', { prompt: 'three', continuation_id: id });
    const unknown = await call(shim, 'chat', { prompt: 'x', continuation_id: '00000000-0000-4000-8000-000000000000' });

    assert.equal(codeOf(full), 'THREAD_FULL');
    assert.match(textOf(full), /holds 4 of 4 turns; start a new thread/);
    assert.equal(codeOf(unknown), 'THREAD_NOT_FOUND');
    assert.equal(e.requests.length, 2);
  });
});

describe('roots', () => {
  test('files outside the client\'s roots are refused before any model is asked', async () => {
    const e = await endpoint();
    const ws = workspace();
    const daemon = await startDaemon({ env: providerEnv(e) });
    const shim = await startShimClient({ stateDir: daemon.stateDir, roots: [ws.project] });

    const refused = await call(shim, 'chat', { prompt: 'read it', files: [join(ws.outside, 'secret.txt')] });
    const sneaky = await call(shim, 'chat', { prompt: 'read it', files: [join(ws.project, '..', 'outside', 'secret.txt')] });

    for (const result of [refused, sneaky]) {
      assert.equal(codeOf(result), 'PATH_OUTSIDE_ROOTS');
      assert.match(textOf(result), /outside the allowed roots/);
    }
    assert.equal(e.requests.length, 0);
  });

  test('without client roots, --root decides; with neither, files are refused naming --root', async () => {
    const e = await endpoint();
    const ws = workspace();
    const rooted = await startDaemon({ env: providerEnv(e), args: ['--root', ws.project] });
    const rootless = await startDaemon({ env: providerEnv(e) });
    const [inRooted, inRootless] = await Promise.all([
      startShimClient({ stateDir: rooted.stateDir }),
      startShimClient({ stateDir: rootless.stateDir }),
    ]);

    continuationOf(await call(inRooted, 'analyze', { prompt: 'what is a?', files: [ws.a] }));
    const outside = await call(inRooted, 'analyze', { prompt: 'x', files: [join(ws.outside, 'secret.txt')] });
    const none = await call(inRootless, 'analyze', { prompt: 'x', files: [ws.a] });

    assert.match(lastUserOf(e.requests[0]!), /export const a = 1/);
    assert.equal(codeOf(outside), 'PATH_OUTSIDE_ROOTS');
    assert.equal(codeOf(none), 'PATH_OUTSIDE_ROOTS');
    assert.match(textOf(none), /no MCP roots and the daemon has no --root/);
    assert.equal(e.requests.length, 1);
  });

  test('files larger than the model\'s budget fail clearly instead of being cut', async () => {
    const e = await endpoint();
    const ws = workspace();
    const big = join(ws.project, 'big.txt');
    writeFileSync(big, 'word '.repeat(40_000));
    const daemon = await startDaemon({
      env: { ...providerEnv(e), CUSTOM_API_URL: e.baseUrl, CUSTOM_MODEL_NAME: 'tiny-local' },
    });
    const shim = await startShimClient({ stateDir: daemon.stateDir, roots: [ws.project] });

    const result = await call(shim, 'chat', { prompt: 'summarize', files: [big], model: 'tiny-local' });

    assert.equal(codeOf(result), 'CONTEXT_TOO_LARGE');
    assert.match(textOf(result), /over this call's budget/);
    assert.equal(e.requests.length, 0);
  });
});
