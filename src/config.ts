import { delimiter, resolve as resolvePath } from 'node:path';
import { ExaiError } from './errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';
import { defaultStateDir } from './state/paths.ts';

/** Environment variables, as read by every resolver here. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Settings every mode shares. */
export interface CommonConfig {
  host: string;
  /** undefined: take the port from `daemon.json` (clients) or the default (daemon). */
  port: number | undefined;
  stateDir: string;
  /** A token given by flag or environment; undefined: the state dir's token. */
  token: string | undefined;
  logLevel: LogLevel;
}

/** Settings of `exai daemon`. */
export interface DaemonConfig extends CommonConfig {
  port: number;
  /** False when the port is the default: then a taken port falls back to any free one. */
  isPortExplicit: boolean;
  maxInflight: number;
  /** Bounds named by flag or `EXAI_<NAME>_MAX_INFLIGHT`, keyed by lower-case provider name. */
  providerLimits: Record<string, number>;
  defaultProviderLimit: number;
  callTimeoutMs: number;
  /** 0: wait as long as it takes. */
  queueTimeoutMs: number;
  allowOrigins: string[];
  /** Exit after this long with no session; 0: never. */
  idleExitMs: number;
  /** Connections served at once; more are refused with HTTP 503. */
  maxConnections: number;
  /** Calls one session may have in the daemon at once; more get an error. */
  maxCallsPerSession: number;
  /** How long running calls may take to finish when the daemon stops. */
  drainMs: number;
  /** Directories whose files tools may read when the client offers no MCP roots. */
  roots: string[];
  /** Turns a conversation thread may hold. */
  threadMaxTurns: number;
  /** How long a thread lives without a new turn. */
  threadIdleMs: number;
  /** Serve the `bench_echo` tool (`--bench`, `EXAI_BENCH=1`); hidden and refused otherwise. */
  isBenchOn: boolean;
}

/** Settings of `exai shim`. */
export interface ShimConfig extends CommonConfig {
  name: string | undefined;
  isAutostartOn: boolean;
}

/** Flags as cmd-ts parsed them; absent flags are undefined. */
export interface CommonFlags {
  host?: string;
  port?: string;
  stateDir?: string;
  token?: string;
  logLevel?: string;
}

/** Flags of `exai daemon`. */
export interface DaemonFlags extends CommonFlags {
  maxInflight?: string;
  providerMaxInflight?: string[];
  callTimeout?: string;
  queueTimeout?: string;
  allowOrigin?: string[];
  idleExit?: string;
  maxConnections?: string;
  maxCallsPerSession?: string;
  root?: string[];
  threadMaxTurns?: string;
  threadIdleHours?: string;
  bench?: boolean;
}

/** Flags of `exai shim`. */
export interface ShimFlags extends CommonFlags {
  name?: string;
  noAutostart?: boolean;
}

/** The default port of the daemon. */
export const DEFAULT_PORT = 8079;

/** Resolves the shared settings: flag, then environment, then default. */
export function resolveCommon(flags: CommonFlags, env: Env): CommonConfig {
  const portText = flags.port ?? env.EXAI_WS_PORT;
  const logLevel = flags.logLevel ?? env.EXAI_LOG_LEVEL ?? 'info';
  if (!isLogLevel(logLevel)) {
    throw invalid('--log-level', logLevel, 'one of debug, info, warn, error');
  }
  return {
    host: flags.host ?? env.EXAI_WS_HOST ?? '127.0.0.1',
    port: portText === undefined ? undefined : parseInteger('--port', portText, 0, 65535),
    stateDir: flags.stateDir ?? env.EXAI_STATE_DIR ?? defaultStateDir(env),
    token: nonEmpty(flags.token ?? env.EXAI_WS_TOKEN),
    logLevel,
  };
}

/** Resolves the settings of `exai daemon`. */
export function resolveDaemonConfig(flags: DaemonFlags, env: Env): DaemonConfig {
  const common = resolveCommon(flags, env);
  const maxInflight = flags.maxInflight ?? env.EXAI_MAX_INFLIGHT ?? '10';
  const callTimeout = flags.callTimeout ?? env.EXAI_CALL_TIMEOUT ?? '300';
  const queueTimeout = flags.queueTimeout ?? env.EXAI_QUEUE_TIMEOUT ?? '0';
  return {
    ...common,
    port: common.port ?? DEFAULT_PORT,
    isPortExplicit: common.port !== undefined,
    maxInflight: parseInteger('--max-inflight', maxInflight, 1, 100_000),
    providerLimits: resolveProviderLimits(flags.providerMaxInflight ?? [], env),
    defaultProviderLimit: 5,
    callTimeoutMs: parseSeconds('--call-timeout', callTimeout, 0.001) * 1000,
    queueTimeoutMs: parseSeconds('--queue-timeout', queueTimeout, 0) * 1000,
    allowOrigins: flags.allowOrigin ?? splitList(env.EXAI_ALLOW_ORIGINS),
    idleExitMs: parseSeconds('--idle-exit', flags.idleExit ?? env.EXAI_IDLE_EXIT ?? '0', 0) * 1000,
    maxConnections: parseInteger('--max-connections', flags.maxConnections ?? env.EXAI_MAX_CONNECTIONS ?? '256', 1, 100_000),
    maxCallsPerSession: parseInteger(
      '--max-calls-per-session',
      flags.maxCallsPerSession ?? env.EXAI_MAX_CALLS_PER_SESSION ?? '256',
      1,
      100_000,
    ),
    drainMs: parseSeconds('EXAI_DRAIN_TIMEOUT', env.EXAI_DRAIN_TIMEOUT ?? '10', 0) * 1000,
    roots: (flags.root?.length ? flags.root : splitList(env.EXAI_ROOTS, delimiter)).map((r) => resolvePath(r)),
    threadMaxTurns: parseInteger('--thread-max-turns', flags.threadMaxTurns ?? env.EXAI_THREAD_MAX_TURNS ?? '20', 2, 10_000),
    threadIdleMs: parseSeconds('--thread-idle-hours', flags.threadIdleHours ?? env.EXAI_THREAD_IDLE_HOURS ?? '3', 0.001) * 3_600_000,
    isBenchOn: flags.bench === true || isTruthy(env.EXAI_BENCH),
  };
}

/** Resolves the settings of `exai shim`. */
export function resolveShimConfig(flags: ShimFlags, env: Env): ShimConfig {
  return {
    ...resolveCommon(flags, env),
    name: nonEmpty(flags.name ?? env.EXAI_SESSION_NAME),
    isAutostartOn: !(flags.noAutostart || isTruthy(env.EXAI_NO_AUTOSTART)),
  };
}

/** Per-provider bounds: `EXAI_<NAME>_MAX_INFLIGHT` first, flags override. */
export function resolveProviderLimits(flags: readonly string[], env: Env): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const [key, value] of Object.entries(env)) {
    const match = /^EXAI_([A-Z0-9]+)_MAX_INFLIGHT$/.exec(key);
    if (!match || value === undefined || value === '') continue;
    limits[match[1]!.toLowerCase()] = parseInteger(key, value, 1, 100_000);
  }
  for (const pair of flags) {
    const match = /^([A-Za-z0-9]+)=(.+)$/.exec(pair);
    if (!match) throw invalid('--provider-max-inflight', pair, 'NAME=N, e.g. kimi=2');
    limits[match[1]!.toLowerCase()] = parseInteger('--provider-max-inflight', match[2]!, 1, 100_000);
  }
  return limits;
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, text, `a whole number from ${min} to ${max}`);
  }
  return value;
}

function parseSeconds(name: string, text: string, min: number): number {
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(value) || value < min) {
    throw invalid(name, text, `a number of seconds, at least ${min}`);
  }
  return value;
}

function invalid(name: string, value: string, expected: string): ExaiError {
  return new ExaiError('CONFIG_INVALID', `Cannot use ${name} "${value}": expected ${expected}`, {
    facts: { setting: name },
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

function splitList(value: string | undefined, separator = ','): string[] {
  return (value ?? '').split(separator).map((s) => s.trim()).filter((s) => s !== '');
}
