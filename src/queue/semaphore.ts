/** One held slot of a semaphore. */
export interface Permit {
  /** Frees the slot; a second call does nothing. */
  release(): void;
}

/** How a caller waits for a slot. */
export interface AcquireOptions {
  /** Aborting it removes the caller from the queue and rejects with its reason. */
  signal?: AbortSignal;
  /** Told how many waiters are ahead, when the caller starts waiting and on every change. */
  onPosition?: (ahead: number) => void;
}

interface Waiter {
  resolve: (permit: Permit) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  onPosition: ((ahead: number) => void) | undefined;
  ahead: number;
  reported: number;
  isQueued: boolean;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/** A counting semaphore that grants slots strictly in arrival order. */
export class Semaphore {
  readonly #limit: number;
  #running = 0;
  #waiting = 0;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;

  /** Creates a semaphore with `limit` slots. */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`Expected \`limit\` to be an integer >= 1, got ${String(limit)}`);
    }

    this.#limit = limit;
  }

  /** How many slots exist. */
  get limit(): number {
    return this.#limit;
  }

  /** How many slots are held. */
  get running(): number {
    return this.#running;
  }

  /** How many callers wait for a slot. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Resolves with a permit once a slot is free and every earlier caller was served. */
  acquire(options: AcquireOptions = {}): Promise<Permit> {
    const { signal, onPosition } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);

    // Released slots go straight to the first waiter, so a free slot means
    // nobody waits and taking it cannot jump the queue.
    if (this.#running < this.#limit) {
      this.#running++;
      return Promise.resolve(this.#permit());
    }

    return new Promise((resolve, reject) => this.#enqueue(resolve, reject, signal, onPosition));
  }

  #enqueue(
    resolve: Waiter['resolve'],
    reject: Waiter['reject'],
    signal: AbortSignal | undefined,
    onPosition: Waiter['onPosition'],
  ): void {
    const waiter: Waiter = {
      resolve,
      reject,
      signal,
      onAbort: undefined,
      onPosition,
      ahead: this.#waiting,
      reported: -1,
      isQueued: true,
      prev: this.#tail,
      next: undefined,
    };
    this.#append(waiter);

    if (signal) {
      waiter.onAbort = () => this.#cancel(waiter);
      signal.addEventListener('abort', waiter.onAbort, { once: true });
    }

    this.#report([waiter]);
  }

  #append(waiter: Waiter): void {
    if (this.#tail) this.#tail.next = waiter;
    else this.#head = waiter;

    this.#tail = waiter;
    this.#waiting++;
  }

  #permit(): Permit {
    let isReleased = false;
    return {
      release: () => {
        if (isReleased) return;

        isReleased = true;
        this.#release();
      },
    };
  }

  #release(): void {
    const first = this.#head;
    if (!first) {
      this.#running--;
      return;
    }

    // Hand the slot over without ever freeing it, so no later acquire()
    // can take it first; `running` stays the same.
    const moved = this.#remove(first);
    first.resolve(this.#permit());
    this.#report(moved);
  }

  #cancel(waiter: Waiter): void {
    if (!waiter.isQueued) return;

    const moved = this.#remove(waiter);
    waiter.reject(waiter.signal?.reason);
    this.#report(moved);
  }

  // Unlinks a waiter and moves everyone behind it one place up. Returns the
  // waiters to tell, so that callbacks run only once the state is consistent.
  #remove(waiter: Waiter): Waiter[] {
    const { prev, next } = waiter;
    if (prev) prev.next = next;
    else this.#head = next;
    if (next) next.prev = prev;
    else this.#tail = prev;

    waiter.isQueued = false;
    waiter.prev = waiter.next = undefined;
    this.#waiting--;
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);

    return this.#moveUp(next);
  }

  #moveUp(from: Waiter | undefined): Waiter[] {
    const moved: Waiter[] = [];
    for (let waiter = from; waiter; waiter = waiter.next) {
      waiter.ahead--;
      if (waiter.onPosition) moved.push(waiter);
    }
    return moved;
  }

  // A callback may release or cancel, changing places again before this loop
  // ends; reading the live place and skipping repeats keeps reports in order.
  #report(waiters: Waiter[]): void {
    for (const waiter of waiters) {
      if (!waiter.isQueued || !waiter.onPosition || waiter.ahead === waiter.reported) continue;

      waiter.reported = waiter.ahead;
      callSafely(waiter.onPosition, waiter.ahead);
    }
  }
}

// A throwing callback belongs to its own caller: it must not break the
// release() of whoever freed the slot, nor skip the reports after it.
function callSafely(fn: (ahead: number) => void, ahead: number): void {
  try {
    fn(ahead);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
