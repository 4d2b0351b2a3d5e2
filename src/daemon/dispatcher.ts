import type { CallToolRequest, CallToolResult, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ExaiError, messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StatusReport } from '../protocol/status.ts';
import { RpcCode } from '../protocol/wire.ts';
import type { ModelRegistry } from '../providers/models.ts';
import type { ChatResult } from '../providers/openai-compatible.ts';
import { formatWaitState, type Scheduler, type WaitState } from '../queue/scheduler.ts';
import type { ThreadStore } from '../threads/thread-store.ts';
import type { ConsultRequest, Tool, ToolContext } from '../tools/tool.ts';
import type { CallBook, CallRecord } from './call-book.ts';
import { linkSignals } from './linked-signal.ts';
import type { ProviderPool } from './provider-pool.ts';
import { RpcError, toToolResult } from './tool-errors.ts';

// As often as the scheduler reports a waiting call, for the same client timeouts.
const RUNNING_HEARTBEAT_MS = 5_000;

/** What a call needs from the session it came on. */
export interface CallOrigin {
  sessionId: string;
  sessionName: string;
  signal: AbortSignal;
  progressToken: string | number | undefined;
  notify(notification: ServerNotification): Promise<void>;
  /** The client's MCP roots as directory paths; empty when it offers none. */
  roots(): Promise<string[]>;
}

/** Everything the dispatcher works with. */
export interface DispatcherOptions {
  tools: readonly Tool[];
  models: ModelRegistry;
  providers: ProviderPool;
  scheduler: Scheduler;
  calls: CallBook;
  threads: ThreadStore;
  /** Directories files may be read from when the client offers no roots. */
  configuredRoots: readonly string[];
  log: Logger;
  callTimeoutMs: number;
  queueTimeoutMs: number;
  maxCallsPerSession: number;
  status(): StatusReport;
}

/** Runs tool calls: validates, schedules each model request, maps failures to the wire. */
export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #tools: Map<string, Tool>;
  // Draining fails the queued calls; halting aborts the running ones too.
  readonly #drain = new AbortController();
  readonly #halt = new AbortController();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#tools = new Map(options.tools.map((t) => [t.name, t]));
  }

  /** The tools as `tools/list` describes them. */
  listTools() {
    return this.#options.tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: inputSchemaOf(t),
    }));
  }

  /** From now on new calls are refused and queued ones fail with `reason`. */
  startDraining(reason: ExaiError): void {
    this.#drain.abort(reason);
  }

  /** Aborts the calls still running (the end of a drain). */
  haltRunning(reason: ExaiError): void {
    this.#halt.abort(reason);
  }

  /** True once draining has begun. */
  get isDraining(): boolean {
    return this.#drain.signal.aborted;
  }

  /** Runs one `tools/call` and returns its result; never lets a call's own failure escape. */
  async call(params: CallToolRequest['params'], origin: CallOrigin): Promise<CallToolResult> {
    const tool = this.#tools.get(params.name);
    if (!tool) {
      const names = [...this.#tools.keys()].join(', ');
      throw new RpcError(RpcCode.invalidParams, `Unknown tool "${params.name}": the tools are ${names}`);
    }
    if (this.isDraining) {
      throw new RpcError(RpcCode.draining, `Cannot run "${tool.name}": the daemon is stopping`);
    }

    const parsed = tool.input.safeParse(params.arguments ?? {});
    if (!parsed.success) {
      const detail = z.prettifyError(parsed.error).replaceAll('\n', ' ');
      return toToolResult(new ExaiError('INVALID_ARGUMENTS', `Cannot run "${tool.name}": invalid arguments: ${detail}`), tool.name);
    }

    if (this.#options.calls.heldBy(origin.sessionId) >= this.#options.maxCallsPerSession) {
      const held = this.#options.calls.countFor(origin.sessionId);
      const message = `Cannot run "${tool.name}": this session already has ${held.running} calls running and ${held.queued} queued (limit ${this.#options.maxCallsPerSession})`;
      return toToolResult(new ExaiError('TOO_MANY_CALLS', message), tool.name);
    }

    const record = this.#options.calls.open(origin.sessionId, origin.sessionName, tool.name);
    const log = this.#options.log.child('call', { callId: record.id, tool: tool.name });
    // One info line per call, when it ends: a line per step is for --log-level debug.
    log.debug('call received', { session: origin.sessionName });
    const started = performance.now();
    const link = linkSignals([origin.signal, this.#halt.signal]);
    try {
      const result = await tool.run(parsed.data, this.#contextFor(record, origin, log, link.signal));
      log.info('call answered', { session: origin.sessionName, ms: Math.round(performance.now() - started), isError: result.isError === true });
      return result;
    } catch (err) {
      log.info('call failed', { session: origin.sessionName, ms: Math.round(performance.now() - started), error: messageOf(err), code: (err as ExaiError).code });
      return toToolResult(err, tool.name);
    } finally {
      link.dispose();
      this.#options.calls.close(record);
    }
  }

  #contextFor(record: CallRecord, origin: CallOrigin, log: Logger, signal: AbortSignal): ToolContext {
    const progress = progressSender(origin);
    return {
      callId: record.id,
      sessionName: origin.sessionName,
      signal,
      log,
      models: this.#options.models,
      threads: this.#options.threads,
      status: this.#options.status,
      progress,
      roots: async () => {
        const offered = await origin.roots();
        return offered.length > 0 ? offered : [...this.#options.configuredRoots];
      },
      consult: (request: ConsultRequest) => this.#consult(record, signal, progress, log, request),
    };
  }

  async #consult(
    record: CallRecord,
    signal: AbortSignal,
    progress: ProgressSender,
    log: Logger,
    request: ConsultRequest,
  ): Promise<ChatResult> {
    const model = this.#options.models.resolve(request.model);
    const provider = this.#options.providers.get(model.provider);
    record.provider = model.provider;
    record.model = model.name;

    record.state = 'queued';
    const queued = linkSignals([signal, this.#drain.signal]);
    const admission = await this.#options.scheduler.admit(model.provider, {
      signal: queued.signal,
      queueTimeoutMs: this.#options.queueTimeoutMs,
      // No progress token, no one to tell: the place in the queue is not even formatted.
      ...(progress.isWanted ? { onWait: (state: WaitState) => progress(formatWaitState(state)) } : {}),
    }).finally(() => queued.dispose());
    const timeout = this.#callTimeout(record, model.provider);
    const heartbeat = runningHeartbeat(progress, model.name);
    record.state = 'running';
    log.debug('call running', { provider: model.provider, model: model.name });
    try {
      return await provider.chat({
        model: model.name,
        messages: request.messages,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        signal: AbortSignal.any([signal, timeout.signal]),
        // Streamed tokens reach the client as progress while the answer is written.
        ...(progress.isWanted ? { onToken: (text: string) => heartbeat.token(text) } : {}),
      });
    } finally {
      heartbeat.stop();
      timeout.clear();
      admission.release();
    }
  }

  #callTimeout(record: CallRecord, provider: string) {
    const controller = new AbortController();
    const seconds = this.#options.callTimeoutMs / 1000;
    const timer = setTimeout(() => {
      const message = `Cannot finish "${record.tool}": ${provider} gave no answer within the call timeout of ${seconds} s`;
      controller.abort(new ExaiError('CALL_TIMEOUT', message, { facts: { provider, timeoutMs: this.#options.callTimeoutMs } }));
    }, this.#options.callTimeoutMs);
    return { signal: controller.signal, clear: () => clearTimeout(timer) };
  }
}

/** Sends a progress message; `isWanted` is false when the client gave no progress token. */
type ProgressSender = ((message: string) => void) & { isWanted: boolean };

/** Sends progress for a call when its client gave a token; otherwise does nothing. */
function progressSender(origin: CallOrigin): ProgressSender {
  let progress = 0;
  const send = (message: string) => {
    if (origin.progressToken === undefined) return;
    const params = { progressToken: origin.progressToken, progress: ++progress, message };
    origin.notify({ method: 'notifications/progress', params }).catch(() => {
      // The connection is closing; its calls are being aborted anyway.
    });
  };
  return Object.assign(send, { isWanted: origin.progressToken !== undefined });
}

/**
 * Passes streamed tokens on as progress and, while the model is silent (it
 * thinks before its first token, or the provider does not stream), says every
 * few seconds that the call still runs: client timeouts that reset on
 * progress must not fire on a call that is merely slow.
 */
function runningHeartbeat(progress: ProgressSender, model: string) {
  const startedAt = performance.now();
  let lastSentAt = startedAt;
  const timer = progress.isWanted
    ? setInterval(() => {
        if (performance.now() - lastSentAt < RUNNING_HEARTBEAT_MS) return;
        lastSentAt = performance.now();
        progress(`running: ${model} has been working for ${Math.round((lastSentAt - startedAt) / 1000)} s`);
      }, RUNNING_HEARTBEAT_MS / 5)
    : undefined;
  timer?.unref();
  return {
    token(text: string) {
      lastSentAt = performance.now();
      progress(text);
    },
    stop: () => clearInterval(timer),
  };
}

function inputSchemaOf(tool: Tool): { type: 'object'; [key: string]: unknown } {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(tool.input) as Record<string, unknown>;
  return { ...schema, type: 'object' };
}
