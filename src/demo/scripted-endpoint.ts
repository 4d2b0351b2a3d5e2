import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** One chat request as the endpoint saw it, and how it ended. */
export interface EndpointRequest {
  seq: number;
  model: string;
  messages: { role: string; content: string }[];
  stream: boolean;
  authorization: string | undefined;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** performance.now() when the answer ended or the client left. */
  endedAt: number | undefined;
  outcome: 'answered' | 'failed' | 'aborted' | undefined;
}

/** What the endpoint does with one request. */
export type Reply =
  | { kind: 'text'; text: string; chunkDelayMs?: number; chunks?: number }
  | { kind: 'status'; status: number; message?: string; retryAfterS?: number }
  | { kind: 'hang' };

/** The script: `reply` may wait (a gate in tests, a pace in the demo). */
export interface ScriptedEndpointOptions {
  reply?: (request: EndpointRequest, signal: AbortSignal) => Reply | Promise<Reply>;
}

/** A running scripted endpoint. */
export interface ScriptedEndpoint {
  /** `http://127.0.0.1:PORT/v1`, ready for an OpenAI client. */
  baseUrl: string;
  requests: readonly EndpointRequest[];
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a local OpenAI-compatible chat endpoint on a free loopback port. */
export async function startScriptedEndpoint(
  options: ScriptedEndpointOptions = {},
): Promise<ScriptedEndpoint> {
  const endpoint = new Endpoint(options.reply ?? echoReply);
  await endpoint.listen();
  return endpoint;
}

/** The reply used when a script gives none: it names the last user message. */
export function echoReply(request: EndpointRequest): Reply {
  const lastUser = request.messages.filter((message) => message.role === 'user').at(-1);
  return { kind: 'text', text: `Answer to: ${lastUser?.content ?? ''}` };
}

type ReplyFn = NonNullable<ScriptedEndpointOptions['reply']>;

interface Waiter {
  count: number;
  resolve: () => void;
}

const DEFAULT_WAIT_MS = 5000;

class Endpoint implements ScriptedEndpoint {
  baseUrl = '';
  readonly #reply: ReplyFn;
  readonly #server: Server;
  readonly #requests: EndpointRequest[] = [];
  readonly #waiters = new Set<Waiter>();
  #closing: Promise<void> | undefined;

  constructor(reply: ReplyFn) {
    this.#reply = reply;
    this.#server = createServer((req, res) => {
      // A client that leaves while sending its body has nobody left to answer.
      this.#route(req, res).catch(() => res.destroy());
    });
  }

  get requests(): readonly EndpointRequest[] {
    return this.#requests;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.#server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}/v1`;
  }

  waitForRequests(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (this.#requests.length >= count) return Promise.resolve();

    return new Promise((resolve, reject) => {
      const waiter: Waiter = { count, resolve: () => done(resolve) };
      const timer = setTimeout(() => {
        const seen = this.#requests.length;
        const message = `Cannot wait for requests: ${seen} of ${count} arrived in ${timeoutMs} ms`;
        done(() => reject(new Error(message)));
      }, timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        settle();
      };
      this.#waiters.add(waiter);
    });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      this.#server.close(() => resolve());
      // Open answers (hanging, streaming, keep-alive) would hold close() forever.
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/chat/completions') return this.#chat(req, res);
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [] });
    }
    sendError(res, 404, `No route for ${req.method} ${path}`);
  }

  async #chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    if (body === undefined) return sendError(res, 400, 'The body is not JSON');

    const request = this.#record(body, req.headers.authorization);
    const controller = new AbortController();
    res.on('close', () => {
      if (res.writableFinished) return;
      finish(request, 'aborted');
      controller.abort(new Error('The client went away'));
    });

    try {
      const reply = await this.#reply(request, controller.signal);
      if (controller.signal.aborted) return;
      await answer(request, reply, res, controller.signal);
    } catch {
      if (controller.signal.aborted) return;
      sendError(res, 500, 'The scripted reply failed');
      finish(request, 'failed');
    }
  }

  #record(body: Record<string, unknown>, authorization: string | undefined): EndpointRequest {
    const request: EndpointRequest = {
      seq: this.#requests.length + 1,
      model: typeof body['model'] === 'string' ? body['model'] : '',
      messages: messagesOf(body['messages']),
      stream: body['stream'] === true,
      authorization,
      startedAt: performance.now(),
      endedAt: undefined,
      outcome: undefined,
    };
    this.#requests.push(request);
    for (const waiter of this.#waiters) {
      if (this.#requests.length >= waiter.count) waiter.resolve();
    }
    return request;
  }
}

async function answer(
  request: EndpointRequest,
  reply: Reply,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  if (reply.kind === 'hang') {
    // Until the client leaves or close() cuts the connection.
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    return;
  }

  if (reply.kind === 'status') {
    const { status, retryAfterS } = reply;
    const headers: Record<string, string> =
      retryAfterS === undefined ? {} : { 'retry-after': String(retryAfterS) };
    sendError(res, status, reply.message ?? `Scripted status ${status}`, headers);
    finish(request, 'failed');
    return;
  }

  if (request.stream) await streamText(request, reply, res, signal);
  else sendJson(res, 200, completion(request, reply.text));
  if (!signal.aborted) finish(request, 'answered');
}

async function streamText(
  request: EndpointRequest,
  reply: Extract<Reply, { kind: 'text' }>,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const pieces = splitText(reply.text, reply.chunks);
  for (const [index, piece] of pieces.entries()) {
    if (index > 0 && (reply.chunkDelayMs ?? 0) > 0) {
      const isAborted = await delay(reply.chunkDelayMs, false, { signal }).catch(() => true);
      if (isAborted) return;
    }
    if (signal.aborted) return;
    res.write(sseData(chunk(request, { content: piece }, null)));
  }

  res.write(sseData(chunk(request, {}, 'stop')));
  res.end('data: [DONE]\n\n');
}

// Without a count, one piece per word keeps the spacing and looks like tokens.
function splitText(text: string, chunks: number | undefined): string[] {
  if (text === '') return [];
  if (chunks === undefined) return text.match(/\S+\s*|\s+/g) ?? [text];

  const count = Math.max(1, Math.min(Math.floor(chunks), text.length));
  const size = Math.ceil(text.length / count);
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) {
    pieces.push(text.slice(start, start + size));
  }
  return pieces;
}

function completion(request: EndpointRequest, text: string): Record<string, unknown> {
  return {
    id: `chatcmpl-scripted-${request.seq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: usage(request, text),
  };
}

function chunk(
  request: EndpointRequest,
  delta: Record<string, string>,
  finishReason: string | null,
): Record<string, unknown> {
  return {
    id: `chatcmpl-scripted-${request.seq}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

// Words stand in for tokens: close enough for a demo and for tests.
function usage(request: EndpointRequest, text: string): Record<string, number> {
  const words = (value: string): number => value.split(/\s+/).filter(Boolean).length;
  const prompt = request.messages.reduce((sum, message) => sum + words(message.content), 0);
  const answer = words(text);
  return { prompt_tokens: prompt, completion_tokens: answer, total_tokens: prompt + answer };
}

function finish(request: EndpointRequest, outcome: NonNullable<EndpointRequest['outcome']>): void {
  if (request.outcome !== undefined) return;
  request.outcome = outcome;
  request.endedAt = performance.now();
}

function messagesOf(value: unknown): EndpointRequest['messages'] {
  if (!Array.isArray(value)) return [];
  return value.map((item: { role?: unknown; content?: unknown }) => ({
    role: typeof item?.role === 'string' ? item.role : '',
    // Content parts (arrays) are kept as JSON: tests only read plain text.
    content: typeof item?.content === 'string' ? item.content : JSON.stringify(item?.content ?? ''),
  }));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  try {
    const value: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
    const isObject = typeof value === 'object' && value !== null;
    return isObject ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { message, type: errorType(status), code: null } }));
}

function errorType(status: number): string {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}
