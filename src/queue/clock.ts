/** The time source of the queue: injected so tests can move time by hand. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; only differences matter. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; the handle goes to `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: unknown): void;
}

type TimerHandle = Parameters<typeof clearTimeout>[0];
type DenoTimers = { Deno?: { unrefTimer?: (id: number) => void } };

// Node fires any longer delay after 1 ms, so longer waits are chained.
const MAX_DELAY_MS = 2 ** 31 - 1;

class SystemTimer {
  current: unknown;
}

/** Real time, with timers that never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => performance.now(),

  setTimeout(fn, ms) {
    const timer = new SystemTimer();
    arm(timer, fn, ms);
    return timer;
  },

  clearTimeout(handle) {
    if (handle instanceof SystemTimer) clearTimeout(handle.current as TimerHandle);
  },
};

function arm(timer: SystemTimer, fn: () => void, ms: number): void {
  const isLong = ms > MAX_DELAY_MS;
  const step = isLong ? () => arm(timer, fn, ms - MAX_DELAY_MS) : fn;
  timer.current = setTimeout(step, isLong ? MAX_DELAY_MS : ms);
  unref(timer.current);
}

// A heartbeat or queue deadline must not hold a shutting-down daemon open.
// Node returns an object with unref(); Deno returns a number instead.
function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    (handle as { unref(): void }).unref();
    return;
  }

  if (typeof handle === 'number') {
    (globalThis as DenoTimers).Deno?.unrefTimer?.(handle);
  }
}
