import type { CallStatus } from '../protocol/status.ts';

/** One tool call the daemon holds, from arrival to answer. */
export interface CallRecord {
  id: string;
  sessionId: string;
  sessionName: string;
  tool: string;
  state: 'queued' | 'running';
  provider?: string;
  model?: string;
  receivedAt: number;
}

/** The calls in the daemon right now, for `status` and per-session counts. */
export class CallBook {
  readonly #calls = new Map<string, CallRecord>();
  // Calls held per session, kept as calls come and go: the cap is checked on every call.
  readonly #held = new Map<string, number>();
  readonly #now: () => number;
  #seq = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Records a call that just arrived; it runs until it waits for a model's slots. */
  open(sessionId: string, sessionName: string, tool: string): CallRecord {
    const record: CallRecord = {
      id: `c${++this.#seq}`,
      sessionId,
      sessionName,
      tool,
      state: 'running',
      receivedAt: this.#now(),
    };
    this.#calls.set(record.id, record);
    this.#held.set(sessionId, this.heldBy(sessionId) + 1);
    return record;
  }

  /** Forgets a call that has been answered (or dropped). */
  close(record: CallRecord): void {
    if (!this.#calls.delete(record.id)) return;
    const held = this.heldBy(record.sessionId) - 1;
    if (held > 0) this.#held.set(record.sessionId, held);
    else this.#held.delete(record.sessionId);
  }

  /** How many calls a session has, queued and running together. */
  heldBy(sessionId: string): number {
    return this.#held.get(sessionId) ?? 0;
  }

  /** How many calls a session has running and queued. */
  countFor(sessionId: string): { running: number; queued: number } {
    let running = 0;
    let queued = 0;
    for (const call of this.#calls.values()) {
      if (call.sessionId !== sessionId) continue;
      if (call.state === 'running') running++;
      else queued++;
    }
    return { running, queued };
  }

  /** Every call, oldest first, as `status` shows it. */
  list(): CallStatus[] {
    const now = this.#now();
    return [...this.#calls.values()].map((c) => ({
      id: c.id,
      session: c.sessionName,
      tool: c.tool,
      state: c.state,
      ...(c.provider === undefined ? {} : { provider: c.provider }),
      ...(c.model === undefined ? {} : { model: c.model }),
      ageMs: Math.round(now - c.receivedAt),
    }));
  }

  /** The number of calls held. */
  get size(): number {
    return this.#calls.size;
  }
}
