import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import type { StatusReport } from '../../src/protocol/status.ts';
import { cleanUp, startDaemon, startShimClient, type ShimClient } from '../support/exai-processes.ts';
import { textOf } from '../support/tool-calls.ts';

// A soak: many real shims, hundreds of calls with random cancellations, and
// one daemon killed in the middle. Each call must settle exactly once, with
// its own answer or with an error it is allowed to get, and no call may run
// twice at the provider.
//
// Counts: 16 clients x 200 calls, two at a time per client, as the issue
// asks. From source on 2 cores the whole test took 33-52 s over six runs:
// 10-19 s to start the 16 shims, 19-42 s for the 3,200 calls (about 1-2 s
// of it with no daemon), the spread from other load on the machine.
const CLIENTS = 16;
const CALLS_PER_CLIENT = 200;
const LANES_PER_CLIENT = 2;
const CANCEL_RATE = 0.1;
const MAX_INFLIGHT = 4;
// Every call must have settled this long after the first one was made.
const SOAK_BOUND_MS = 120_000;
// The shim sees its connection drop a moment after the kill; a call made in
// that moment may still be sent to the dead daemon and fail as daemon-gone.
const KILL_GRACE_MS = 250;
const CANCEL_REASON = 'soak-cancel';

const endpoints: ScriptedEndpoint[] = [];
const shims: ShimClient[] = [];
afterEach(async () => {
  await Promise.allSettled(shims.splice(0).map((s) => s.close()));
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});

/** One call the soak made, and how it ended. */
interface SoakCall {
  prompt: string;
  madeAt: number;
  isCancelled: boolean;
  settlements: number;
  outcome?: { kind: 'answered'; text: string; isError: boolean } | { kind: 'rejected'; code: unknown; message: string };
}

/** Counts, per prompt, the answers that reached the client on the wire (stdio from the shim). */
function countAnswers(shim: ShimClient, answers: Map<string, number>): void {
  const { transport } = shim;
  const promptOf = new Map<string | number, string>();
  const send = transport.send.bind(transport);
  transport.send = (message) => {
    const params = (message as { method?: string; params?: { arguments?: { prompt?: string } } }).params;
    const id = (message as { id?: string | number }).id;
    if ((message as { method?: string }).method === 'tools/call' && id !== undefined && params?.arguments?.prompt) {
      promptOf.set(id, params.arguments.prompt);
    }
    return send(message);
  };
  const receive = transport.onmessage!;
  transport.onmessage = (message) => {
    const id = (message as { id?: string | number }).id;
    const prompt = id === undefined || 'method' in message ? undefined : promptOf.get(id);
    if (prompt !== undefined) answers.set(prompt, (answers.get(prompt) ?? 0) + 1);
    receive(message);
  };
}

/** A small seeded generator (mulberry32): a failing run can be replayed with its seed. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lastUserPrompt(endpoint: ScriptedEndpoint, index: number): string {
  return endpoint.requests[index]!.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
}

async function statusOf(shim: ShimClient): Promise<StatusReport> {
  const result = await shim.client.callTool({ name: 'status', arguments: {} });
  return result.structuredContent as unknown as StatusReport;
}

function isDaemonGone(outcome: SoakCall['outcome']): boolean {
  if (outcome?.kind !== 'rejected' || outcome.code !== -32001) return false;
  return /daemon went away while the call ran|the connection closed as the call was sent/.test(outcome.message);
}

describe('soak', () => {
  const name = 'hundreds of calls from 16 clients each settle once with their own answer across a daemon restart';
  test(name, { timeout: 180_000 }, async (t) => {
    const seed = Number(process.env.EXAI_SOAK_SEED ?? Date.now() % 2 ** 31);
    t.diagnostic(`seed ${seed} (EXAI_SOAK_SEED=${seed} replays the same cancellations)`);
    const testStarted = performance.now();

    const endpoint = await startScriptedEndpoint({
      reply: async (request, signal) => {
        await delay(Math.floor(Math.random() * 21), undefined, { signal });
        return echoReply(request);
      },
    });
    endpoints.push(endpoint);
    const env = { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl };
    const daemonArgs = ['--max-inflight', String(MAX_INFLIGHT)];
    const first = await startDaemon({ args: daemonArgs, env });
    // Long enough that calls made while no daemon runs wait for the next one.
    const shimEnv = { EXAI_CONNECT_TIMEOUT: '120' };
    shims.push(
      ...(await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) =>
          startShimClient({ stateDir: first.stateDir, clientName: `soak-${i}`, env: shimEnv }),
        ),
      )),
    );
    const shimsReady = performance.now();
    const answers = new Map<string, number>();
    for (const shim of shims) countAnswers(shim, answers);

    const calls: SoakCall[] = [];
    const total = CLIENTS * CALLS_PER_CLIENT;
    let settled = 0;
    let killedAt = Number.POSITIVE_INFINITY;
    let secondUpAt = Number.POSITIVE_INFINITY;
    let restart: Promise<void> | undefined;

    const restartDaemon = async () => {
      killedAt = performance.now();
      first.child.kill('SIGKILL');
      await first.exited;
      await startDaemon({ stateDir: first.stateDir, args: daemonArgs, env });
      secondUpAt = performance.now();
    };

    const call = async (shim: ShimClient, prompt: string, random: () => number) => {
      const entry: SoakCall = { prompt, madeAt: performance.now(), isCancelled: false, settlements: 0 };
      calls.push(entry);
      const abort = new AbortController();
      let cancelTimer: NodeJS.Timeout | undefined;
      if (random() < CANCEL_RATE) {
        cancelTimer = setTimeout(() => {
          entry.isCancelled = true;
          abort.abort(CANCEL_REASON);
        }, Math.floor(random() * 30));
      }
      const useProgress = random() < 0.5;
      try {
        const result = (await shim.client.callTool({ name: 'chat', arguments: { prompt } }, CallToolResultSchema, {
          signal: abort.signal,
          timeout: SOAK_BOUND_MS * 2,
          ...(useProgress ? { onprogress: () => {} } : {}),
        })) as CallToolResult;
        entry.settlements++;
        entry.outcome ??= { kind: 'answered', text: textOf(result), isError: result.isError === true };
      } catch (err) {
        entry.settlements++;
        const { code, message } = err as { code?: unknown; message?: string };
        entry.outcome ??= { kind: 'rejected', code, message: String(message) };
      } finally {
        clearTimeout(cancelTimer);
      }
      settled++;
      if (settled >= total / 2 && restart === undefined) restart = restartDaemon();
    };

    const lane = async (client: number, lane: number) => {
      for (let j = lane; j < CALLS_PER_CLIENT; j += LANES_PER_CLIENT) {
        // Each call's choices come from the seed and its own place, not from timing.
        const random = randomFrom(seed + client * CALLS_PER_CLIENT + j);
        await call(shims[client]!, `client ${client} call ${j}`, random);
      }
    };

    const lanes = Array.from({ length: CLIENTS * LANES_PER_CLIENT }, (_, k) =>
      lane(Math.floor(k / LANES_PER_CLIENT), k % LANES_PER_CLIENT),
    );
    const soak = Promise.all(lanes);
    const bound = delay(SOAK_BOUND_MS, 'timed out');
    const finished = await Promise.race([soak.then(() => 'done'), bound]);
    const pending = calls.filter((c) => c.settlements === 0).map((c) => c.prompt);
    assert.equal(finished, 'done', `calls still pending after ${SOAK_BOUND_MS} ms: ${pending.slice(0, 20).join('; ')}`);
    await restart;
    const soakEnded = performance.now();

    // Every call settled exactly once, and the shim answered it once on the
    // wire: a cancelled call may get no answer, or one the daemon sent before
    // the cancel reached it.
    assert.equal(calls.length, total);
    assert.deepEqual(calls.filter((c) => c.settlements !== 1).map((c) => c.prompt), []);
    const badlyAnswered = calls
      .map((c) => ({ prompt: c.prompt, answers: answers.get(c.prompt) ?? 0, isCancelled: c.isCancelled }))
      .filter((c) => c.answers > 1 || (c.answers === 0 && !c.isCancelled));
    assert.deepEqual(badlyAnswered, [], 'calls answered twice on the wire, or never though not cancelled');

    // An answer is the answer to its own prompt.
    const answered = calls.filter((c) => c.outcome?.kind === 'answered');
    for (const c of answered) {
      assert.deepEqual(c.outcome, { kind: 'answered', text: `Answer to: ${c.prompt}`, isError: false }, c.prompt);
    }

    // A rejection is the caller's own cancel, or daemon-gone for a call made before the kill.
    const rejected = calls.filter((c) => c.outcome?.kind === 'rejected');
    const cancelled = rejected.filter((c) => c.isCancelled && (c.outcome as { message: string }).message.includes(CANCEL_REASON));
    const gone = rejected.filter((c) => !cancelled.includes(c) && isDaemonGone(c.outcome));
    const unexpected = rejected.filter((c) => !cancelled.includes(c) && !gone.includes(c));
    assert.deepEqual(
      unexpected.map((c) => ({ prompt: c.prompt, outcome: c.outcome })),
      [],
      'rejections other than cancel or daemon-gone',
    );
    const lateGone = gone.filter((c) => c.madeAt > killedAt + KILL_GRACE_MS);
    assert.deepEqual(lateGone.map((c) => `${c.prompt} made ${Math.round(c.madeAt - killedAt)} ms after the kill`), []);
    assert.ok(gone.length > 0, 'no call was in flight when the daemon was killed');
    assert.ok(cancelled.length > 0, 'no call was cancelled');
    // Calls made while no daemon ran waited for the next one instead of failing.
    const madeInGap = calls.filter((c) => c.madeAt > killedAt && c.madeAt < secondUpAt);
    assert.ok(madeInGap.some((c) => c.outcome?.kind === 'answered'), 'no call made during the restart was answered');

    // No call ran twice: each prompt reached the endpoint (which outlived the restart) at most once.
    const prompts = endpoint.requests.map((_, i) => lastUserPrompt(endpoint, i));
    const duplicates = prompts.filter((p, i) => prompts.indexOf(p) !== i);
    assert.deepEqual(duplicates, [], 'prompts that reached the endpoint twice');
    const ours = new Set(calls.map((c) => c.prompt));
    assert.deepEqual(prompts.filter((p) => !ours.has(p)), []);
    // An answered call reached the endpoint; a call that never did was cancelled or lost with the daemon.
    const reached = new Set(prompts);
    assert.deepEqual(answered.filter((c) => !reached.has(c.prompt)).map((c) => c.prompt), []);

    // The new daemon holds no call and sees all 16 shims again.
    // Shims that made no call since the restart may still be reconnecting.
    let report = await statusOf(shims[0]!);
    const settleBy = performance.now() + 15_000;
    while (report.sessions.length !== CLIENTS && performance.now() < settleBy) {
      await delay(100);
      report = await statusOf(shims[0]!);
    }
    // The status call itself is the only call the daemon holds.
    assert.deepEqual(report.calls.map((c) => c.tool), ['status']);
    assert.equal(report.sessions.length, CLIENTS);
    assert.deepEqual(report.global, { limit: MAX_INFLIGHT, running: 0, waiting: 0 });

    const errors = readFileSync(join(first.stateDir, 'logs', 'daemon.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"level":"error"'));
    assert.deepEqual(errors, [], 'the daemon logged errors');

    t.diagnostic(
      `${total} calls: ${answered.length} answered, ${cancelled.length} cancelled, ${gone.length} daemon-gone, ` +
        `${madeInGap.length} made during the restart; ${endpoint.requests.length} endpoint requests; ` +
        `shims up in ${Math.round(shimsReady - testStarted)} ms, soak ${Math.round(soakEnded - shimsReady)} ms, ` +
        `restart gap ${Math.round(secondUpAt - killedAt)} ms`,
    );
  });
});
