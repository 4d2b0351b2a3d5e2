import { ExaiError } from '../errors.ts';
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { Semaphore } from './semaphore.ts';
import type { Permit } from './semaphore.ts';

const GLOBAL_SLOT = 'a global slot';
const DEFAULT_HEARTBEAT_MS = 5000;

/** Where a queued call stands: waiters ahead of it, and the provider or 'a global slot'. */
export interface WaitState {
  ahead: number;
  waitingFor: string;
}

/** The progress line a client sees while its call waits. */
export function formatWaitState(state: WaitState): string {
  return `queued: ${state.ahead} ahead (waiting for ${state.waitingFor})`;
}

/** Limits and time source of a scheduler. */
export interface SchedulerOptions {
  maxInflight: number;
  providerLimits?: Record<string, number>;
  defaultProviderLimit: number;
  clock?: Clock;
  heartbeatMs?: number;
}

/** How one call waits: cancellation, a deadline (0 or absent: none), and progress reports. */
export interface AdmitOptions {
  signal?: AbortSignal;
  queueTimeoutMs?: number;
  onWait?: (state: WaitState) => void;
}

/** The slots an admitted call holds. */
export interface Admission {
  /** Frees every slot of the call; a second call does nothing. */
  release(): void;
}

/** Load of one semaphore. */
export interface LoadCounts {
  limit: number;
  running: number;
  waiting: number;
}

/** Load of the whole scheduler, for status output. */
export interface LoadSnapshot {
  global: LoadCounts;
  providers: Record<string, LoadCounts>;
}

const NO_SLOTS: Admission = { release() {} };

/** Admits calls in FIFO order under a global limit and one limit per provider. */
export class Scheduler {
  readonly #global: Semaphore;
  readonly #providers = new Map<string, Semaphore>();
  readonly #defaultProviderLimit: number;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;

  /** Creates a scheduler; throws a TypeError on a limit that is not a positive integer. */
  constructor(options: SchedulerOptions) {
    checkLimit('maxInflight', options.maxInflight);
    checkLimit('defaultProviderLimit', options.defaultProviderLimit);
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    checkDuration('heartbeatMs', heartbeatMs, 'a number > 0', heartbeatMs > 0);

    this.#global = new Semaphore(options.maxInflight);
    this.#defaultProviderLimit = options.defaultProviderLimit;
    this.#clock = options.clock ?? systemClock;
    this.#heartbeatMs = heartbeatMs;

    for (const [provider, limit] of Object.entries(options.providerLimits ?? {})) {
      checkLimit(`providerLimits.${provider}`, limit);
      this.#providers.set(provider, new Semaphore(limit));
    }
  }

  /** Resolves once the call holds a slot of `provider` and a global one; null takes none. */
  async admit(provider: string | null, options: AdmitOptions = {}): Promise<Admission> {
    if (provider === null) return NO_SLOTS;

    const timeoutMs = options.queueTimeoutMs ?? 0;
    checkDuration('queueTimeoutMs', timeoutMs, 'a number >= 0', timeoutMs >= 0);
    if (options.signal?.aborted) throw options.signal.reason;

    const semaphore = this.#providerSemaphore(provider);
    const call = new QueuedCall(this.#clock, this.#heartbeatMs, options, (waitedMs, state) =>
      this.#timeoutError(provider, waitedMs, state),
    );
    try {
      return await this.#acquireBoth(provider, semaphore, call);
    } finally {
      call.end();
    }
  }

  /** Limits and current load, globally and for every provider configured or used so far. */
  snapshot(): LoadSnapshot {
    // fromEntries defines own properties, so any provider name is safe as a key.
    const providers = Object.fromEntries(
      [...this.#providers].map(([name, semaphore]) => [name, countsOf(semaphore)]),
    );
    return { global: countsOf(this.#global), providers };
  }

  // The provider slot comes first so that a call stuck behind a busy provider
  // holds no global slot and cannot block calls for free providers.
  async #acquireBoth(provider: string, semaphore: Semaphore, call: QueuedCall): Promise<Admission> {
    const providerPermit = await semaphore.acquire({
      signal: call.signal,
      onPosition: (ahead) => call.report({ ahead, waitingFor: provider }),
    });

    try {
      const globalPermit = await this.#global.acquire({
        signal: call.signal,
        onPosition: (ahead) => call.report({ ahead, waitingFor: GLOBAL_SLOT }),
      });
      return joinPermits(globalPermit, providerPermit);
    } catch (error) {
      providerPermit.release();
      throw error;
    }
  }

  #providerSemaphore(provider: string): Semaphore {
    let semaphore = this.#providers.get(provider);
    if (!semaphore) {
      semaphore = new Semaphore(this.#defaultProviderLimit);
      this.#providers.set(provider, semaphore);
    }
    return semaphore;
  }

  // Counts are taken as the deadline fires, so they include the expiring call.
  #timeoutError(provider: string, waitedMs: number, state: WaitState | undefined): ExaiError {
    const global = countsOf(this.#global);
    const own = countsOf(this.#providerSemaphore(provider));
    const message =
      `Cannot start the call: still queued after ${formatDuration(waitedMs)} ` +
      `(global: ${formatCounts(global)}; ${provider}: ${formatCounts(own)})`;

    return new ExaiError('QUEUE_TIMEOUT', message, {
      facts: {
        provider,
        waitingFor: state?.waitingFor ?? provider,
        waitedMs,
        globalLimit: global.limit,
        globalRunning: global.running,
        globalWaiting: global.waiting,
        providerLimit: own.limit,
        providerRunning: own.running,
        providerWaiting: own.waiting,
      },
    });
  }
}

type TimeoutError = (waitedMs: number, state: WaitState | undefined) => Error;

// The life of one call between admit() and its admission: one abort signal
// for both queues, the deadline, and the progress heartbeat.
class QueuedCall {
  readonly #controller = new AbortController();
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #onWait: ((state: WaitState) => void) | undefined;
  readonly #callerSignal: AbortSignal | undefined;
  readonly #startedAt: number;
  #state: WaitState | undefined;
  #heartbeat: unknown;
  #lastEmitAt = 0;
  #deadline: unknown;
  #isOver = false;

  readonly #onCallerAbort = (): void => {
    this.#controller.abort(this.#callerSignal?.reason);
  };

  constructor(clock: Clock, heartbeatMs: number, options: AdmitOptions, onTimeout: TimeoutError) {
    this.#clock = clock;
    this.#heartbeatMs = heartbeatMs;
    this.#onWait = options.onWait;
    this.#callerSignal = options.signal;
    this.#startedAt = clock.now();

    this.#callerSignal?.addEventListener('abort', this.#onCallerAbort, { once: true });

    const timeoutMs = options.queueTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      this.#deadline = clock.setTimeout(() => this.#expire(onTimeout), timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  report(state: WaitState): void {
    if (this.#isOver) return;

    const last = this.#state;
    if (last && last.ahead === state.ahead && last.waitingFor === state.waitingFor) return;

    this.#state = state;
    this.#emit();
  }

  end(): void {
    this.#isOver = true;
    this.#clock.clearTimeout(this.#heartbeat);
    this.#clock.clearTimeout(this.#deadline);
    this.#callerSignal?.removeEventListener('abort', this.#onCallerAbort);
  }

  #expire(onTimeout: TimeoutError): void {
    const waitedMs = this.#clock.now() - this.#startedAt;
    this.#controller.abort(onTimeout(waitedMs, this.#state));
  }

  // Any report restarts the heartbeat: the client needs a sign of life at
  // least every heartbeatMs, not a fixed beat on top of real changes.
  #emit(): void {
    if (this.#isOver || !this.#state || !this.#onWait) return;

    this.#lastEmitAt = this.#clock.now();
    if (this.#heartbeat === undefined) this.#armHeartbeat(this.#heartbeatMs);
    this.#onWait({ ...this.#state });
  }

  // Every release moves each waiter behind it up one place, so with a long
  // queue reports come in bursts; re-arming a timer on each one cost more
  // than the rest of the queue (issue 6). The timer is left running instead
  // and, when it fires early, waits out the rest of the beat.
  #armHeartbeat(ms: number): void {
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#heartbeat = undefined;
      const dueAt = this.#lastEmitAt + this.#heartbeatMs;
      const now = this.#clock.now();
      if (now >= dueAt) this.#emit();
      else if (!this.#isOver) this.#armHeartbeat(dueAt - now);
    }, ms);
  }
}

function joinPermits(first: Permit, second: Permit): Admission {
  return {
    release() {
      first.release();
      second.release();
    },
  };
}

function countsOf(semaphore: Semaphore): LoadCounts {
  return { limit: semaphore.limit, running: semaphore.running, waiting: semaphore.waiting };
}

function formatCounts(counts: LoadCounts): string {
  return `${counts.running} running, ${counts.waiting} waiting`;
}

// Round before choosing the unit: a real timer may fire a fraction of a
// millisecond early by performance.now(), and 999.6 ms must read "1 s", not
// "1000 ms".
function formatDuration(ms: number): string {
  const wholeMs = Math.round(ms);
  if (wholeMs < 1000) return `${wholeMs} ms`;
  return `${Number((wholeMs / 1000).toFixed(1))} s`;
}

function checkLimit(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= 1, got ${String(value)}`);
  }
}

function checkDuration(name: string, value: number, expected: string, isInRange: boolean): void {
  if (!Number.isFinite(value) || !isInRange) {
    throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${String(value)}`);
  }
}
