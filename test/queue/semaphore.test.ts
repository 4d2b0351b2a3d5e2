import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Semaphore } from '../../src/queue/semaphore.ts';
import type { Permit } from '../../src/queue/semaphore.ts';
import { settle } from '../support/fake-clock.ts';

// Records the order in which acquire() calls resolve.
function acquireInto(semaphore: Semaphore, order: string[], name: string, signal?: AbortSignal) {
  return semaphore.acquire({ signal }).then((permit) => {
    order.push(name);
    return permit;
  });
}

// A small seeded generator, so a failing random run can be replayed.
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

test('semaphore rejects a limit that is not an integer >= 1', () => {
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new Semaphore(limit), {
      name: 'TypeError',
      message: `Expected \`limit\` to be an integer >= 1, got ${limit}`,
    });
  }
});

test('semaphore grants at once while slots are free and counts them', async () => {
  const semaphore = new Semaphore(2);

  const first = await semaphore.acquire();
  await semaphore.acquire();

  assert.equal(semaphore.limit, 2);
  assert.equal(semaphore.running, 2);
  assert.equal(semaphore.waiting, 0);

  first.release();
  assert.equal(semaphore.running, 1);
});

test('semaphore releases waiters in arrival order', async () => {
  const semaphore = new Semaphore(1);
  const order: string[] = [];
  const holder = await semaphore.acquire();
  const waiters = ['a', 'b', 'c', 'd'].map((name) => acquireInto(semaphore, order, name));
  assert.equal(semaphore.waiting, 4);

  holder.release();
  for (const waiter of waiters) {
    const permit = await waiter;
    permit.release();
  }

  assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  assert.equal(semaphore.running, 0);
  assert.equal(semaphore.waiting, 0);
});

test('semaphore never exceeds its limit under many concurrent acquirers', async () => {
  const semaphore = new Semaphore(3);
  const random = seededRandom(7);
  let active = 0;
  let maxActive = 0;

  const worker = async () => {
    const permit = await semaphore.acquire();
    active++;
    maxActive = Math.max(maxActive, active);
    assert.ok(semaphore.running <= semaphore.limit);

    const ticks = Math.floor(random() * 4);
    for (let i = 0; i < ticks; i++) await settle();

    active--;
    permit.release();
  };
  await Promise.all(Array.from({ length: 60 }, worker));

  assert.equal(maxActive, 3);
  assert.equal(semaphore.running, 0);
  assert.equal(semaphore.waiting, 0);
});

test('semaphore hands a released slot to the first waiter, not to a later acquire', async () => {
  const semaphore = new Semaphore(1);
  const order: string[] = [];
  const holder = await semaphore.acquire();
  const early = acquireInto(semaphore, order, 'early');

  holder.release();
  const late = acquireInto(semaphore, order, 'late');
  assert.equal(semaphore.running, 1);
  assert.equal(semaphore.waiting, 1);

  (await early).release();
  (await late).release();
  assert.deepEqual(order, ['early', 'late']);
});

test('a cancelled waiter leaves the queue at once and the next waiter still gets the slot', async () => {
  const semaphore = new Semaphore(1);
  const order: string[] = [];
  const holder = await semaphore.acquire();
  const controller = new AbortController();
  const cancelled = acquireInto(semaphore, order, 'cancelled', controller.signal);
  const next = acquireInto(semaphore, order, 'next');

  const reason = new Error('client went away');
  controller.abort(reason);

  assert.equal(semaphore.waiting, 1);
  await assert.rejects(cancelled, (error) => error === reason);

  holder.release();
  (await next).release();
  assert.deepEqual(order, ['next']);
  assert.equal(semaphore.running, 0);
});

test('semaphore rejects at once with the reason when the signal is already aborted', async () => {
  const semaphore = new Semaphore(1);
  const reason = new Error('already gone');
  const permit = semaphore.acquire({ signal: AbortSignal.abort(reason) });

  await assert.rejects(permit, (error) => error === reason);

  assert.equal(semaphore.running, 0);
  assert.equal(semaphore.waiting, 0);
});

test('aborting after the grant leaves the permit with its holder', async () => {
  const semaphore = new Semaphore(1);
  const holder = await semaphore.acquire();
  const controller = new AbortController();
  const waiter = semaphore.acquire({ signal: controller.signal });

  holder.release();
  controller.abort();

  const permit = await waiter;
  assert.equal(semaphore.running, 1);
  permit.release();
  assert.equal(semaphore.running, 0);
});

test('releasing a permit twice frees only one slot', async () => {
  const semaphore = new Semaphore(1);
  const order: string[] = [];
  const holder = await semaphore.acquire();
  const first = acquireInto(semaphore, order, 'first');
  void acquireInto(semaphore, order, 'second');

  holder.release();
  holder.release();
  await first;
  await settle();

  assert.deepEqual(order, ['first']);
  assert.equal(semaphore.running, 1);
  assert.equal(semaphore.waiting, 1);
});

test('semaphore reports the place of a waiter when it starts waiting and on every change', async () => {
  const semaphore = new Semaphore(1);
  const holder = await semaphore.acquire();
  const positions: number[] = [];
  const controller = new AbortController();
  const first = semaphore.acquire();
  void semaphore.acquire({ signal: controller.signal }).catch(() => {});
  const watched = semaphore.acquire({ onPosition: (ahead) => positions.push(ahead) });
  assert.deepEqual(positions, [2]);

  controller.abort();
  assert.deepEqual(positions, [2, 1]);

  holder.release();
  assert.deepEqual(positions, [2, 1, 0]);

  (await first).release();
  (await watched).release();
  assert.deepEqual(positions, [2, 1, 0]);
});

test('a throwing position callback neither breaks a release nor silences later waiters', async () => {
  const semaphore = new Semaphore(1);
  const holder = await semaphore.acquire();
  const positions: number[] = [];
  const failure = new Error('callback failed');
  let callCount = 0;
  const first = semaphore.acquire();
  void semaphore.acquire({
    onPosition: () => {
      callCount++;
      if (callCount > 1) throw failure;
    },
  });
  void semaphore.acquire({ onPosition: (ahead) => positions.push(ahead) });

  // The error is rethrown on a microtask; catch it there instead of crashing the run.
  const deferred: (() => void)[] = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn) => deferred.push(fn);
  try {
    holder.release();
  } finally {
    globalThis.queueMicrotask = original;
  }

  assert.deepEqual(positions, [2, 1]);
  assert.equal(deferred.length, 1);
  assert.throws(() => deferred[0]!(), (error) => error === failure);
  assert.ok(await first);
});

test('semaphore never reports a place for an immediate grant', async () => {
  const semaphore = new Semaphore(1);
  const positions: number[] = [];

  const permit = await semaphore.acquire({ onPosition: (ahead) => positions.push(ahead) });

  assert.deepEqual(positions, []);
  permit.release();
});

test('semaphore grants each of 1,000 waiters exactly once and in order despite cancellations', async () => {
  const semaphore = new Semaphore(1);
  const random = seededRandom(42);
  const holder = await semaphore.acquire();
  const granted: number[] = [];
  const rejected: number[] = [];
  const controllers: AbortController[] = [];
  const waiters: Promise<void>[] = [];

  for (let i = 0; i < 1000; i++) {
    const controller = new AbortController();
    controllers.push(controller);
    waiters.push(
      semaphore.acquire({ signal: controller.signal }).then(
        async (permit: Permit) => {
          granted.push(i);
          await settle();
          permit.release();
        },
        () => {
          rejected.push(i);
        },
      ),
    );
  }

  const cancelled = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    if (random() < 0.3) cancelled.add(i);
  }
  // Cancel in a shuffled order, half before the queue starts to move.
  const toCancel = [...cancelled].sort(() => random() - 0.5);
  const half = Math.floor(toCancel.length / 2);
  for (const i of toCancel.slice(0, half)) controllers[i]!.abort();
  assert.equal(semaphore.waiting, 1000 - half);

  holder.release();
  await settle();
  for (const i of toCancel.slice(half)) controllers[i]!.abort();
  await Promise.all(waiters);

  // A cancellation that comes after the grant is too late and changes nothing.
  const isRejected = new Set(rejected);
  const expected = [...Array(1000).keys()].filter((i) => !isRejected.has(i));
  assert.deepEqual(granted, expected);
  assert.ok(rejected.every((i) => cancelled.has(i)));
  assert.ok(rejected.length >= half);
  assert.equal(semaphore.running, 0);
  assert.equal(semaphore.waiting, 0);
});
