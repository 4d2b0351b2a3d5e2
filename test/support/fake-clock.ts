import type { Clock } from '../../src/queue/clock.ts';

interface Timer {
  id: number;
  dueAt: number;
  fn: () => void;
}

/** A clock that moves only when a test calls advance(). */
export class FakeClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  /** The fake time in milliseconds, starting at 0. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + ms; the handle is a number. */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { id, dueAt: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer; unknown handles are ignored. */
  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** How many timers are scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in time order, including ones they schedule. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let timer = this.#nextDue(end); timer; timer = this.#nextDue(end)) {
      this.#timers.delete(timer.id);
      this.#now = timer.dueAt;
      timer.fn();
    }
    this.#now = end;
  }

  // Timers due at the same moment fire in the order they were scheduled.
  #nextDue(end: number): Timer | undefined {
    let next: Timer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.dueAt > end) continue;
      if (!next || timer.dueAt < next.dueAt) next = timer;
    }
    return next;
  }
}

/** Resolves once every promise callback queued so far has run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
