import { Scheduler } from '../src/queue/scheduler.ts';
import { Semaphore, type Permit } from '../src/queue/semaphore.ts';
import { median, shuffled } from './lib/stats.ts';

// The queue alone, in this process: how many operations per second the FIFO
// semaphore and the scheduler manage with a long queue. One operation is one
// caller going through: queued, then granted and released, or cancelled.

/** What to measure. */
export interface SchedulerOptions {
  waiters: number;
  /** Repetitions of each case; cases take turns, the median is reported. */
  repetitions: number;
}

/** One case's result. */
export interface SchedulerRow {
  name: string;
  description: string;
  opsPerSecond: number;
  /** Microseconds per operation, at the median rate. */
  usPerOp: number;
}

/** Every case's result. */
export interface SchedulerResult {
  waiters: number;
  rows: SchedulerRow[];
}

interface Case {
  name: string;
  description: string;
  /** Runs once; resolves with the number of operations done. */
  run(): Promise<number>;
}

/** Runs every case and returns operations per second. */
export async function runScheduler(options: SchedulerOptions): Promise<SchedulerResult> {
  const cases = casesFor(options.waiters);
  const rates = new Map(cases.map((c) => [c, [] as number[]]));

  for (const c of cases) await c.run(); // unmeasured: JIT
  for (let r = 0; r < options.repetitions; r++) {
    for (const c of shuffled(cases)) rates.get(c)!.push(await rateOf(c));
  }

  const rows = cases.map((c) => {
    const opsPerSecond = median(rates.get(c)!);
    return { name: c.name, description: c.description, opsPerSecond: Math.round(opsPerSecond), usPerOp: Math.round((1e7 / opsPerSecond)) / 10 };
  });
  return { waiters: options.waiters, rows };
}

// Repeats a case for at least 200 ms so that the timer's grain does not matter.
async function rateOf(c: Case): Promise<number> {
  const started = performance.now();
  let ops = 0;
  while (performance.now() - started < 200) ops += await c.run();
  return (ops * 1000) / (performance.now() - started);
}

function casesFor(waiters: number): Case[] {
  return [
    {
      name: 'semaphore-free',
      description: 'acquire and release with a free slot (no queue)',
      run: async () => {
        const semaphore = new Semaphore(8);
        for (let i = 0; i < waiters; i++) (await semaphore.acquire()).release();
        return waiters;
      },
    },
    {
      name: 'semaphore-fifo',
      description: `${waiters} waiters queued behind one slot, each granted in turn and released`,
      run: () => drain(waiters, false),
    },
    {
      name: 'semaphore-fifo-positions',
      description: `as above, each waiter told its place on every move (onPosition)`,
      run: () => drain(waiters, true),
    },
    {
      name: 'semaphore-cancel',
      description: `${waiters} waiters queued, all cancelled in random order (AbortSignal)`,
      run: () => cancelAll(waiters),
    },
    {
      name: 'scheduler-admit',
      description: `${waiters} calls admitted for one provider through provider and global slots, with progress reports`,
      run: () => admitAll(waiters, false),
    },
    {
      name: 'scheduler-admit-cancel',
      description: `as above, every other call cancelled while it waits`,
      run: () => admitAll(waiters, true),
    },
  ];
}

async function drain(waiters: number, isReporting: boolean): Promise<number> {
  const semaphore = new Semaphore(1);
  const holder = await semaphore.acquire();
  const onPosition = isReporting ? () => {} : undefined;
  const granted: Promise<void>[] = [];
  for (let i = 0; i < waiters; i++) {
    granted.push(semaphore.acquire({ onPosition }).then((permit: Permit) => permit.release()));
  }
  holder.release();
  await Promise.all(granted);
  return waiters;
}

async function cancelAll(waiters: number): Promise<number> {
  const semaphore = new Semaphore(1);
  const holder = await semaphore.acquire();
  const controllers = Array.from({ length: waiters }, () => new AbortController());
  const settled = controllers.map((c) => semaphore.acquire({ signal: c.signal }).catch(() => {}));
  for (const c of shuffled(controllers)) c.abort();
  await Promise.all(settled);
  holder.release();
  return waiters;
}

async function admitAll(waiters: number, isCancelling: boolean): Promise<number> {
  const scheduler = new Scheduler({ maxInflight: 1, providerLimits: { kimi: 1 }, defaultProviderLimit: 1 });
  const holder = await scheduler.admit('kimi');
  const controllers = Array.from({ length: waiters }, () => new AbortController());
  const settled = controllers.map((c) =>
    scheduler.admit('kimi', { signal: c.signal, onWait: () => {} }).then((a) => a.release(), () => {}),
  );
  if (isCancelling) controllers.forEach((c, i) => i % 2 === 1 && c.abort());
  holder.release();
  await Promise.all(settled);
  return waiters;
}
