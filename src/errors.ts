/** Every failure exai names on purpose; the string is stable and tests match on it. */
export type ErrorCode =
  | 'INVALID_ARGUMENTS'
  | 'UNKNOWN_TOOL'
  | 'UNKNOWN_MODEL'
  | 'NO_API_KEY'
  | 'PROVIDER_FAILED'
  | 'QUEUE_TIMEOUT'
  | 'CALL_TIMEOUT'
  | 'CANCELLED'
  | 'DAEMON_UNREACHABLE'
  | 'DAEMON_GONE'
  | 'ALREADY_RUNNING'
  | 'PORT_IN_USE'
  | 'CONFIG_INVALID'
  | 'DRAINING'
  | 'TOO_MANY_CALLS'
  | 'THREAD_NOT_FOUND'
  | 'THREAD_FULL'
  | 'WRONG_WORKSPACE'
  | 'PATH_OUTSIDE_ROOTS'
  | 'FILE_UNREADABLE'
  | 'CONTEXT_TOO_LARGE'
  | 'GIT_FAILED'
  | 'NO_CHANGES';

/** The one local error class: a stable `code`, a sentence, the facts as fields. */
export class ExaiError extends Error {
  readonly code: ErrorCode;
  readonly facts: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; facts?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ExaiError';
    this.code = code;
    this.facts = options.facts ?? {};
  }
}

/** True when `err` is an ExaiError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is ExaiError {
  return err instanceof ExaiError && err.code === code;
}

/** The message of anything thrown, for logs and wire errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
