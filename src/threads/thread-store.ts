import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ExaiError, messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';

/** One message of a conversation: what an agent asked through a tool, or what a model answered. */
export interface ThreadTurn {
  role: 'user' | 'assistant';
  /** The tool the turn came through; any tool may continue any thread. */
  tool: string;
  text: string;
  /** Absolute paths embedded with this turn; later turns embed them again, once. */
  files: string[];
  model?: string;
  /** Set on the turns of `planner`: where the step sits in the plan. */
  step?: PlanStep;
  /** ISO time the turn was added. */
  at: string;
}

/** A step of a plan made with `planner`. */
export interface PlanStep {
  /** The step as the agent wrote it; the turn's text adds its place in the plan. */
  text: string;
  number: number;
  total: number;
  revises?: number;
  branchFrom?: number;
  branchId?: string;
}

/** A conversation thread as it is kept on disk. */
export interface Thread {
  id: string;
  /** The workspace (set of roots) the thread belongs to; no other may continue it. */
  workspace: string;
  createdAt: string;
  updatedAt: string;
  turns: ThreadTurn[];
}

/** Settings of a {@link ThreadStore}. */
export interface ThreadStoreOptions {
  dir: string;
  maxTurns: number;
  maxIdleMs: number;
  log: Logger;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
}

const RECORD_VERSION = 1;
const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const turnSchema = z.object({
  role: z.enum(['user', 'assistant']),
  tool: z.string(),
  text: z.string(),
  files: z.array(z.string()),
  model: z.string().optional(),
  step: z
    .object({
      text: z.string(),
      number: z.number().int(),
      total: z.number().int(),
      revises: z.number().int().optional(),
      branchFrom: z.number().int().optional(),
      branchId: z.string().optional(),
    })
    .optional(),
  at: z.string(),
});

const recordSchema = z.object({
  version: z.literal(RECORD_VERSION),
  id: z.string().regex(ID_PATTERN),
  workspace: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  turns: z.array(turnSchema),
});

/**
 * Conversation threads, one JSON file each in the state dir, so that a daemon
 * restart loses none. Writes are atomic (a temporary file, then a rename);
 * a record that cannot be read is logged and treated as missing, never fatal.
 */
export class ThreadStore {
  readonly maxTurns: number;
  readonly #dir: string;
  readonly #maxIdleMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  // One write at a time per thread: two calls continuing the same thread at
  // once must both land, not the later one overwriting the earlier.
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: ThreadStoreOptions) {
    this.maxTurns = options.maxTurns;
    this.#dir = options.dir;
    this.#maxIdleMs = options.maxIdleMs;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The thread `id` for a call from `workspace` that will add `turnsToAdd`
   * turns. Throws THREAD_NOT_FOUND (unknown, expired or unreadable),
   * WRONG_WORKSPACE, or THREAD_FULL.
   */
  async open(id: string, workspace: string, turnsToAdd: number): Promise<Thread> {
    const thread = await this.#read(id);
    if (thread.workspace !== workspace) {
      throw new ExaiError(
        'WRONG_WORKSPACE',
        `Cannot continue thread ${id}: it belongs to another workspace (other MCP roots); start a new thread without continuation_id`,
        { facts: { thread: id } },
      );
    }
    this.#checkRoom(thread, turnsToAdd);
    return thread;
  }

  /**
   * Adds `turns` to thread `id`, or to a new thread of `workspace` when `id`
   * is undefined, and returns the thread as stored.
   */
  async append(id: string | undefined, workspace: string, turns: readonly Omit<ThreadTurn, 'at'>[]): Promise<Thread> {
    const threadId = id ?? randomUUID();
    return this.#locked(threadId, async () => {
      const at = new Date(this.#now()).toISOString();
      const thread = id === undefined ? this.#fresh(threadId, workspace, at) : await this.open(id, workspace, turns.length);
      thread.turns.push(...turns.map((turn) => ({ ...turn, at })));
      thread.updatedAt = at;
      await this.#write(thread);
      return thread;
    });
  }

  /** Turns the thread may still take. */
  remainingTurns(thread: Thread): number {
    return Math.max(0, this.maxTurns - thread.turns.length);
  }

  /** Removes expired threads and leftover temporary files; returns how many threads went. */
  async sweep(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }

    let removed = 0;
    for (const name of names) {
      const path = join(this.#dir, name);
      if (name.endsWith('.tmp')) {
        // A write cut off by a crash; the record it was replacing is intact.
        if (await this.#isOlderThan(path, 60_000)) await rm(path, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const record = await this.#load(path, name.slice(0, -'.json'.length));
      if (record && this.#isExpired(record)) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async #read(id: string): Promise<Thread> {
    if (!ID_PATTERN.test(id)) {
      throw new ExaiError('THREAD_NOT_FOUND', `Cannot continue thread "${id}": that is not a continuation_id exai gave`);
    }
    const path = this.#pathOf(id);
    const thread = await this.#load(path, id);
    if (!thread) {
      throw new ExaiError('THREAD_NOT_FOUND', `Cannot continue thread ${id}: no such thread (it may have expired); start a new one without continuation_id`, { facts: { thread: id } });
    }
    if (this.#isExpired(thread)) {
      await rm(path, { force: true });
      const hours = round(this.#maxIdleMs / 3_600_000);
      throw new ExaiError('THREAD_NOT_FOUND', `Cannot continue thread ${id}: it expired after ${hours} h without a new turn; start a new one without continuation_id`, { facts: { thread: id } });
    }
    return thread;
  }

  /** Reads one record; undefined when missing or unreadable (which is logged). */
  async #load(path: string, id: string): Promise<Thread | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.#log.warn('thread record unreadable', { thread: id, error: messageOf(err) });
      return undefined;
    }

    const parsed = parseRecord(text);
    if (!parsed.success || parsed.data.id !== id) {
      this.#log.warn('thread record corrupt, skipped', { thread: id, path });
      return undefined;
    }
    const { version: _version, ...thread } = parsed.data;
    return thread;
  }

  async #write(thread: Thread): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#pathOf(thread.id);
    const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    await writeFile(temp, `${JSON.stringify({ version: RECORD_VERSION, ...thread })}\n`, { mode: 0o600 });
    await rename(temp, path);
  }

  #checkRoom(thread: Thread, turnsToAdd: number): void {
    if (thread.turns.length + turnsToAdd <= this.maxTurns) return;
    throw new ExaiError(
      'THREAD_FULL',
      `Cannot continue thread ${thread.id}: it holds ${thread.turns.length} of ${this.maxTurns} turns; start a new thread without continuation_id`,
      { facts: { thread: thread.id, turns: thread.turns.length, maxTurns: this.maxTurns } },
    );
  }

  #fresh(id: string, workspace: string, at: string): Thread {
    return { id, workspace, createdAt: at, updatedAt: at, turns: [] };
  }

  #isExpired(thread: Thread): boolean {
    return Date.parse(thread.updatedAt) + this.#maxIdleMs < this.#now();
  }

  async #isOlderThan(path: string, ageMs: number): Promise<boolean> {
    try {
      return (await stat(path)).mtimeMs + ageMs < this.#now();
    } catch {
      return false;
    }
  }

  #pathOf(id: string): string {
    return join(this.#dir, `${id}.json`);
  }

  async #locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(id, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    }
  }
}

function parseRecord(text: string) {
  try {
    return recordSchema.safeParse(JSON.parse(text));
  } catch {
    return { success: false as const };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
