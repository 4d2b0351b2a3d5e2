import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { hasCode } from '../../src/errors.ts';
import { Scheduler, formatWaitState } from '../../src/queue/scheduler.ts';
import type { Admission, SchedulerOptions, WaitState } from '../../src/queue/scheduler.ts';
import { FakeClock, settle } from '../support/fake-clock.ts';
import { typeScriptRunner } from '../support/runtime.ts';

function schedulerWith(options: Partial<SchedulerOptions> = {}) {
  const clock = new FakeClock();
  const scheduler = new Scheduler({ maxInflight: 2, defaultProviderLimit: 2, clock, ...options });
  return { clock, scheduler };
}

// Tracks whether an admit() promise has settled, without awaiting it.
function track(admission: Promise<Admission>) {
  const state = { admission: undefined as Admission | undefined, error: undefined as unknown };
  admission.then(
    (value) => (state.admission = value),
    (error: unknown) => (state.error = error),
  );
  return state;
}

function isSettled(state: ReturnType<typeof track>): boolean {
  return state.admission !== undefined || state.error !== undefined;
}

test('formatWaitState names the place and what the call waits for', () => {
  assert.equal(
    formatWaitState({ ahead: 2, waitingFor: 'kimi' }),
    'queued: 2 ahead (waiting for kimi)',
  );
  assert.equal(
    formatWaitState({ ahead: 0, waitingFor: 'a global slot' }),
    'queued: 0 ahead (waiting for a global slot)',
  );
});

test('scheduler rejects limits that are not positive integers', () => {
  assert.throws(() => schedulerWith({ maxInflight: 0 }), {
    name: 'TypeError',
    message: 'Expected `maxInflight` to be an integer >= 1, got 0',
  });
  assert.throws(() => schedulerWith({ defaultProviderLimit: 1.5 }), { name: 'TypeError' });
  assert.throws(() => schedulerWith({ providerLimits: { kimi: -1 } }), {
    message: 'Expected `providerLimits.kimi` to be an integer >= 1, got -1',
  });
  assert.throws(() => schedulerWith({ heartbeatMs: 0 }), { name: 'TypeError' });
});

test('a call that uses no model is admitted at once and takes no slot', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 1 });
  await scheduler.admit('kimi');

  const admission = await scheduler.admit(null);
  admission.release();

  assert.deepEqual(scheduler.snapshot().global, { limit: 1, running: 1, waiting: 0 });
});

test('scheduler never runs more calls than maxInflight', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 2, defaultProviderLimit: 5 });
  const first = await scheduler.admit('kimi');
  await scheduler.admit('glm');
  const third = track(scheduler.admit('openai'));
  await settle();

  assert.equal(third.admission, undefined);
  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 2, waiting: 1 });

  first.release();
  await settle();
  assert.ok(third.admission);
  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 2, waiting: 0 });
});

test('scheduler never runs more calls of one provider than its limit', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 10, providerLimits: { kimi: 2 } });
  const admitted: Admission[] = [];
  for (let i = 0; i < 5; i++) void scheduler.admit('kimi').then((a) => admitted.push(a));
  await settle();

  assert.equal(admitted.length, 2);
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 2, running: 2, waiting: 3 });
  assert.equal(scheduler.snapshot().global.running, 2);
});

test('a call for a free provider is not stuck behind a busy provider', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 2, providerLimits: { kimi: 1 } });
  await scheduler.admit('kimi');
  const kimiWaiter = track(scheduler.admit('kimi'));
  await settle();

  // The waiting kimi call must not hold the second global slot.
  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 1, waiting: 0 });

  const glm = await scheduler.admit('glm');
  assert.ok(glm);
  assert.equal(kimiWaiter.admission, undefined);
  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 2, waiting: 0 });
});

test('calls of one provider are admitted in arrival order', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 4, providerLimits: { kimi: 1 } });
  const holder = await scheduler.admit('kimi');
  const order: string[] = [];
  const calls = ['a', 'b', 'c'].map((name) =>
    scheduler.admit('kimi').then((admission) => {
      order.push(name);
      admission.release();
    }),
  );

  holder.release();
  await Promise.all(calls);
  assert.deepEqual(order, ['a', 'b', 'c']);
});

test('a waiting call reports its place at once, on change, and every heartbeatMs', async () => {
  const { clock, scheduler } = schedulerWith({ providerLimits: { kimi: 1 }, heartbeatMs: 1000 });
  const holder = await scheduler.admit('kimi');
  const ahead = track(scheduler.admit('kimi'));
  const states: [number, WaitState][] = [];
  const watched = scheduler.admit('kimi', { onWait: (s) => states.push([clock.now(), s]) });
  assert.deepEqual(states, [[0, { ahead: 1, waitingFor: 'kimi' }]]);

  clock.advance(2500);
  assert.deepEqual(states.map(([at]) => at), [0, 1000, 2000]);

  holder.release();
  await settle();
  assert.deepEqual(states.at(-1), [2500, { ahead: 0, waitingFor: 'kimi' }]);

  clock.advance(1000);
  assert.deepEqual(states.at(-1), [3500, { ahead: 0, waitingFor: 'kimi' }]);

  ahead.admission!.release();
  await watched;
  const count = states.length;
  clock.advance(10_000);
  assert.equal(states.length, count);
  assert.equal(clock.pendingTimers, 0);
});

test('a call holding its provider slot reports that it waits for a global slot', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 1 });
  const holder = await scheduler.admit('glm');
  const states: WaitState[] = [];
  const watched = scheduler.admit('kimi', { onWait: (s) => states.push(s) });
  await settle();

  assert.deepEqual(states, [{ ahead: 0, waitingFor: 'a global slot' }]);
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 2, running: 1, waiting: 0 });

  holder.release();
  await watched;
  assert.equal(states.length, 1);
});

test('a queue timeout rejects with QUEUE_TIMEOUT, names the counts, and frees the place', async () => {
  const { clock, scheduler } = schedulerWith({ maxInflight: 1, providerLimits: { kimi: 1 } });
  const holder = await scheduler.admit('kimi');
  const states: WaitState[] = [];
  const onWait = (state: WaitState) => states.push(state);
  const timed = track(scheduler.admit('kimi', { queueTimeoutMs: 30_000, onWait }));
  const after = track(scheduler.admit('kimi'));

  clock.advance(29_999);
  await settle();
  assert.equal(isSettled(timed), false);

  clock.advance(1);
  await settle();
  assert.ok(hasCode(timed.error, 'QUEUE_TIMEOUT'));
  assert.equal(
    timed.error.message,
    'Cannot start the call: still queued after 30 s (global: 1 running, 0 waiting; kimi: 1 running, 2 waiting)',
  );
  assert.equal(timed.error.facts.waitedMs, 30_000);
  assert.equal(timed.error.facts.providerWaiting, 2);
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 1, running: 1, waiting: 1 });

  const reports = states.length;
  clock.advance(60_000);
  assert.equal(states.length, reports);

  holder.release();
  await settle();
  assert.ok(after.admission);
});

test('a queue deadline that fires a fraction of a millisecond early still reads in seconds', async () => {
  // Real timers run on the event loop's cached time, so by performance.now()
  // a 1000 ms deadline can fire after 999.6 ms.
  const fake = new FakeClock();
  let hasFired = false;
  const earlyClock = {
    now: () => fake.now() - (hasFired ? 0.4 : 0),
    setTimeout: (fn: () => void, ms: number) =>
      fake.setTimeout(() => {
        hasFired = true;
        fn();
      }, ms),
    clearTimeout: (handle: unknown) => fake.clearTimeout(handle),
  };
  const scheduler = new Scheduler({ maxInflight: 1, defaultProviderLimit: 1, clock: earlyClock });
  await scheduler.admit('kimi');
  const timed = track(scheduler.admit('kimi', { queueTimeoutMs: 1000 }));

  fake.advance(1000);
  await settle();

  assert.ok(hasCode(timed.error, 'QUEUE_TIMEOUT'));
  assert.match(timed.error.message, /still queued after 1 s \(/);
});

test('a queue timeout while waiting for a global slot frees the provider slot', async () => {
  const { clock, scheduler } = schedulerWith({ maxInflight: 1 });
  await scheduler.admit('glm');
  const timed = track(scheduler.admit('kimi', { queueTimeoutMs: 500 }));
  await settle();
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 2, running: 1, waiting: 0 });

  clock.advance(500);
  await settle();

  assert.ok(hasCode(timed.error, 'QUEUE_TIMEOUT'));
  assert.match(timed.error.message, /after 500 ms \(global: 1 running, 1 waiting; kimi: 1 running/);
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 2, running: 0, waiting: 0 });
  assert.deepEqual(scheduler.snapshot().global, { limit: 1, running: 1, waiting: 0 });
  assert.equal(clock.pendingTimers, 0);
});

test('a call that times out just as its provider slot arrives gives the slot back', async () => {
  const { clock, scheduler } = schedulerWith({ providerLimits: { kimi: 1 } });
  const holder = await scheduler.admit('kimi');
  clock.setTimeout(() => holder.release(), 100);
  const timed = track(scheduler.admit('kimi', { queueTimeoutMs: 100 }));

  // Both timers fire before the granted call can run on to the global queue.
  clock.advance(100);
  await settle();

  assert.ok(hasCode(timed.error, 'QUEUE_TIMEOUT'));
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 1, running: 0, waiting: 0 });
  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 0, waiting: 0 });
});

test('aborting a call that waits for its provider leaves the queue at once', async () => {
  const { clock, scheduler } = schedulerWith({ providerLimits: { kimi: 1 } });
  await scheduler.admit('kimi');
  const controller = new AbortController();
  const aborted = track(scheduler.admit('kimi', { signal: controller.signal, onWait: () => {} }));

  const reason = new Error('cancelled by the client');
  controller.abort(reason);
  assert.equal(scheduler.snapshot().providers.kimi!.waiting, 0);

  await settle();
  assert.equal(aborted.error, reason);
  assert.equal(clock.pendingTimers, 0);
});

test('aborting a call that holds its provider slot but waits for a global slot releases it', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 1, providerLimits: { kimi: 1 } });
  const holder = await scheduler.admit('glm');
  const controller = new AbortController();
  const aborted = track(scheduler.admit('kimi', { signal: controller.signal }));
  await settle();
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 1, running: 1, waiting: 0 });

  controller.abort();
  await settle();

  assert.equal((aborted.error as Error).name, 'AbortError');
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 1, running: 0, waiting: 0 });
  assert.deepEqual(scheduler.snapshot().global, { limit: 1, running: 1, waiting: 0 });

  holder.release();
  const next = await scheduler.admit('kimi');
  assert.ok(next);
});

test('an already aborted signal rejects without taking a slot', async () => {
  const { scheduler } = schedulerWith();
  const reason = new Error('gone before it started');
  const admission = scheduler.admit('kimi', { signal: AbortSignal.abort(reason) });

  await assert.rejects(admission, (error) => error === reason);

  assert.deepEqual(scheduler.snapshot().global, { limit: 2, running: 0, waiting: 0 });
});

test('aborting after admission leaves the slots with the call', async () => {
  const { scheduler } = schedulerWith();
  const controller = new AbortController();
  const admission = await scheduler.admit('kimi', { signal: controller.signal });

  controller.abort();
  assert.equal(scheduler.snapshot().global.running, 1);
  assert.equal(scheduler.snapshot().providers.kimi!.running, 1);

  admission.release();
  assert.equal(scheduler.snapshot().global.running, 0);
});

test('releasing an admission twice frees each slot only once', async () => {
  const { scheduler } = schedulerWith({ maxInflight: 1, providerLimits: { kimi: 1 } });
  const holder = await scheduler.admit('kimi');
  const first = track(scheduler.admit('kimi'));
  const second = track(scheduler.admit('kimi'));

  holder.release();
  holder.release();
  await settle();

  assert.ok(first.admission);
  assert.equal(second.admission, undefined);
  assert.deepEqual(scheduler.snapshot().global, { limit: 1, running: 1, waiting: 0 });
  assert.deepEqual(scheduler.snapshot().providers.kimi, { limit: 1, running: 1, waiting: 1 });
});

test('snapshot lists configured and used providers with their counts', async () => {
  const { scheduler } = schedulerWith({
    maxInflight: 3,
    defaultProviderLimit: 1,
    providerLimits: { kimi: 2, openai: 4 },
  });
  await scheduler.admit('kimi');
  await scheduler.admit('glm');
  void scheduler.admit('glm');
  await settle();

  assert.deepEqual(scheduler.snapshot(), {
    global: { limit: 3, running: 2, waiting: 0 },
    providers: {
      kimi: { limit: 2, running: 1, waiting: 0 },
      openai: { limit: 4, running: 0, waiting: 0 },
      glm: { limit: 1, running: 1, waiting: 1 },
    },
  });
});

test('the system clock does not keep the process alive while a timer waits', () => {
  const fixture = fileURLToPath(new URL('../fixtures/clock-timer.ts', import.meta.url));
  const [runner, ...runnerArgs] = typeScriptRunner();
  const child = spawnSync(runner, [...runnerArgs, fixture], { timeout: 20_000 });

  assert.equal(child.status, 0, String(child.stderr));
});
