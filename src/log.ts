import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Log levels, least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where log lines go: a file descriptor, or a function (tests, buffering). */
export type LogSink = (line: string) => void;

/** A JSON-lines logger bound to one component and a set of fixed fields. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string, fields?: Record<string, unknown>): Logger;
  isEnabled(level: LogLevel): boolean;
}

/** True when `value` names a log level. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

// Global events of Deno that announce an uncaught error ending the process.
const FATAL_EVENTS = ['error', 'unhandledrejection'] as const;

/** Opens `path` for appending (creating its folder) and returns a sink that writes whole lines. */
export function fileSink(path: string): { sink: LogSink; close(): void } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  let pending = '';
  let isClosed = false;

  // Lines wait for the end of the current turn of the event loop and leave in
  // one synchronous write: a call's two lines cost one write, made after its
  // answer went out, instead of two made before it (issue 6 measured logging
  // at a fifth of the daemon's time per call). A process that exits, or dies
  // of an uncaught exception, still writes them on its way out; only a kill
  // that cannot be caught loses them, and only those of the last turn.
  const flush = () => {
    if (pending === '' || isClosed) return;
    const text = pending;
    pending = '';
    writeSync(fd, text);
  };
  process.on('exit', flush);
  // Deno emits no 'exit' when an uncaught error ends the process, but it
  // dispatches these first; listening does not stop the process from ending.
  const runtime = globalThis as Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>>;
  for (const type of FATAL_EVENTS) runtime.addEventListener?.(type, flush);

  return {
    sink: (line) => {
      if (isClosed) return;
      if (pending === '') setImmediate(flush);
      pending += line;
    },
    close: () => {
      if (isClosed) return;
      flush();
      isClosed = true;
      process.off('exit', flush);
      for (const type of FATAL_EVENTS) runtime.removeEventListener?.(type, flush);
      closeSync(fd);
    },
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger(() => {}, 'error', 'silent');

/** Creates a logger writing lines at `level` and above to `sink`. */
export function createLogger(
  sink: LogSink,
  level: LogLevel,
  component: string,
  fixed: Record<string, unknown> = {},
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const isEnabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) >= threshold;

  const write = (l: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (!isEnabled(l)) return;
    const record = { time: new Date().toISOString(), level: l, component, msg, ...fixed, ...fields };
    // A replacer slows every stringify down; most lines carry no Error to rescue.
    const hasError = fields !== undefined && Object.values(fields).some((value) => value instanceof Error);
    sink(JSON.stringify(record, hasError ? replaceErrors : undefined) + '\n');
  };

  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (name, fields) => createLogger(sink, level, name, { ...fixed, ...fields }),
    isEnabled,
  };
}

// Errors have no enumerable fields; keep the parts worth reading.
function replaceErrors(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as { code?: unknown }).code;
  return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
}
