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
    return record;
  }

  /** Forgets a call that has been answered (or dropped). */
  close(record: CallRecord): void {
    this.#calls.delete(record.id);
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
