import { setTimeout as delay } from 'node:timers/promises';
import OpenAI, { APIConnectionError, APIError } from 'openai';
import { ExaiError } from '../errors.ts';
import type { ProviderAccess, ProviderName } from './catalog.ts';

/** One turn of a conversation sent to a model. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One chat completion; `onToken` turns on streaming. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  signal?: AbortSignal;
  onToken?: (text: string) => void;
}

/** The answer, the model that gave it and how many attempts it took. */
export interface ChatResult {
  text: string;
  model: string;
  attempts: number;
  usage?: { promptTokens: number; completionTokens: number };
}

/** How often and how patiently a provider retries 429, 5xx and lost connections. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A provider that answers chat requests. */
export interface ChatProvider {
  readonly name: ProviderName;
  chat(request: ChatRequest): Promise<ChatResult>;
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The retry policy used where a caller gives none. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 8000,
});

const DETAIL_MAX_CHARS = 200;

/** A provider for any OpenAI-compatible endpoint: Kimi, GLM, OpenAI, OpenRouter, local servers. */
export function createProvider(
  access: ProviderAccess,
  options: { retry?: Partial<RetryPolicy>; sleep?: Sleep } = {},
): ChatProvider {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  retry.maxAttempts = Math.max(1, Math.floor(retry.maxAttempts));
  return new OpenAICompatibleProvider(access, retry, options.sleep ?? sleep);
}

interface Failure {
  status: number | undefined;
  /** What went wrong, safe to show: no key, no prompt. */
  summary: string;
  isRetryable: boolean;
  retryAfterMs?: number;
  /** A system error code such as ECONNREFUSED, when the transport failed. */
  errorCode?: string;
}

interface Answer {
  text: string;
  model: string;
  usage?: ChatResult['usage'];
}

// Marks an error thrown by the caller's onToken, so it is rethrown as is
// rather than taken for a provider failure and retried.
class TokenHandlerError {
  readonly error: unknown;

  constructor(error: unknown) {
    this.error = error;
  }
}

class OpenAICompatibleProvider implements ChatProvider {
  readonly name: ProviderName;
  readonly #access: ProviderAccess;
  readonly #client: OpenAI;
  readonly #retry: RetryPolicy;
  readonly #sleep: Sleep;

  constructor(access: ProviderAccess, retry: RetryPolicy, sleepFn: Sleep) {
    this.name = access.spec.name;
    this.#access = access;
    this.#retry = retry;
    this.#sleep = sleepFn;
    this.#client = new OpenAI({
      apiKey: access.apiKey ?? 'none',
      baseURL: access.baseUrl,
      // Our own retries, so the final error is ours and the wait obeys the call's signal.
      maxRetries: 0,
      // The SDK would otherwise read OPENAI_* variables and send them to every provider.
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      logLevel: 'off',
    });
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    for (let attempt = 1; ; attempt += 1) {
      request.signal?.throwIfAborted();
      const progress = { hasStreamed: false };
      try {
        const answer = await this.#attempt(request, progress);
        return { ...answer, attempts: attempt };
      } catch (err) {
        const failure = this.#failureOf(err, request.signal);
        // Tokens already reached the caller; a second attempt would repeat them.
        const canRetry = failure.isRetryable && !progress.hasStreamed;
        if (!canRetry || attempt >= this.#retry.maxAttempts) {
          throw this.#finalError(failure, request, attempt, progress.hasStreamed, err);
        }
        await this.#sleep(this.#delayMs(attempt, failure.retryAfterMs), request.signal);
      }
    }
  }

  async #attempt(request: ChatRequest, progress: { hasStreamed: boolean }): Promise<Answer> {
    const params = {
      model: request.model,
      messages: request.messages,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    };
    const options = { signal: request.signal };
    if (request.onToken !== undefined) {
      return this.#stream(params, options, request.onToken, progress);
    }

    const completion = await this.#client.chat.completions.create(
      { ...params, stream: false },
      options,
    );
    const text = completion.choices[0]?.message?.content ?? '';
    return { text, model: completion.model || request.model, usage: usageOf(completion.usage) };
  }

  async #stream(
    params: OpenAI.ChatCompletionCreateParamsNonStreaming,
    options: { signal: AbortSignal | undefined },
    onToken: (text: string) => void,
    progress: { hasStreamed: boolean },
  ): Promise<Answer> {
    const stream = await this.#client.chat.completions.create({ ...params, stream: true }, options);
    const pieces: string[] = [];
    let answer: Answer = { text: '', model: params.model };
    for await (const chunk of stream) {
      answer = { ...answer, model: chunk.model || answer.model };
      if (chunk.usage) answer.usage = usageOf(chunk.usage);
      const piece = chunk.choices[0]?.delta?.content;
      if (!piece) continue;

      pieces.push(piece);
      progress.hasStreamed = true;
      // Throwing out of the loop makes the SDK abort the HTTP request.
      deliver(onToken, piece);
    }

    // The SDK ends an aborted stream quietly, so a cut answer would look whole.
    options.signal?.throwIfAborted();
    return { ...answer, text: pieces.join('') };
  }

  // Cancellation and the caller's own errors are not provider failures: rethrow them as they are.
  #failureOf(err: unknown, signal: AbortSignal | undefined): Failure {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof TokenHandlerError) throw err.error;
    return classify(err, this.#access.apiKey);
  }

  #delayMs(attempt: number, retryAfterMs: number | undefined): number {
    const { baseDelayMs, maxDelayMs } = this.#retry;
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, maxDelayMs);

    const ceilingMs = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
    // Half fixed, half random: clients that failed together do not retry together.
    return Math.round(ceilingMs / 2 + (Math.random() * ceilingMs) / 2);
  }

  #finalError(
    failure: Failure,
    request: ChatRequest,
    attempts: number,
    hasStreamed: boolean,
    cause: unknown,
  ): ExaiError {
    const { spec } = this.#access;
    const isRefused = failure.status === 401 || failure.status === 403;
    const what = isRefused
      ? `the provider refused the key (HTTP ${failure.status}; check ${spec.keyEnv[0]})`
      : failure.summary;
    const when = hasStreamed
      ? ' mid-answer (not retried: part of it was already streamed)'
      : failure.isRetryable
        ? ` after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}`
        : '';
    const message = `Cannot get an answer from ${spec.name}: ${what}${when}`;
    return new ExaiError('PROVIDER_FAILED', message, {
      cause,
      facts: {
        provider: spec.name,
        model: request.model,
        status: failure.status,
        attempts,
        ...(failure.errorCode === undefined ? {} : { errorCode: failure.errorCode }),
      },
    });
  }
}

function deliver(onToken: (text: string) => void, piece: string): void {
  try {
    onToken(piece);
  } catch (error) {
    throw new TokenHandlerError(error);
  }
}

function classify(err: unknown, apiKey: string | undefined): Failure {
  if (err instanceof APIError && typeof err.status === 'number') {
    const { status } = err;
    const detail = providerDetail(err, apiKey);
    return {
      status,
      summary: detail === '' ? `HTTP ${status}` : `HTTP ${status} (${detail})`,
      isRetryable: status === 429 || status >= 500,
      retryAfterMs: retryAfterMs(err.headers),
    };
  }

  // An error event inside a stream: the provider took the request, then said no.
  if (err instanceof APIError && !(err instanceof APIConnectionError)) {
    const detail = providerDetail(err, apiKey);
    const summary = `the provider sent an error${detail === '' ? '' : ` (${detail})`}`;
    return { status: undefined, summary, isRetryable: false };
  }

  // Anything else came from the transport: refused, reset, cut off, garbled.
  const errorCode = systemErrorCode(err);
  const summary = `connection failed${errorCode === undefined ? '' : ` (${errorCode})`}`;
  return { status: undefined, summary, isRetryable: true, errorCode };
}

// The provider's own words, when it gave any: one line, no key, bounded.
function providerDetail(err: APIError, apiKey: string | undefined): string {
  const body = err.error as { message?: unknown } | undefined;
  const raw = typeof body?.message === 'string' ? body.message : '';
  let clean = raw.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  if (apiKey !== undefined && apiKey !== '') clean = clean.split(apiKey).join('***');
  return clean.length > DETAIL_MAX_CHARS ? `${clean.slice(0, DETAIL_MAX_CHARS - 1)}…` : clean;
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const milliseconds = Number(headers?.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;

  const value = headers?.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

// Node hides the useful code (ECONNREFUSED, ECONNRESET) a few causes deep.
function systemErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function usageOf(usage: OpenAI.CompletionUsage | null | undefined): ChatResult['usage'] {
  if (usage === null || usage === undefined) return undefined;
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
}

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    // timers/promises rejects with its own AbortError; callers expect the reason.
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}
