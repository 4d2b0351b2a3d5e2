import type { DaemonConfig } from '../config.ts';
import { ExaiError, hasCode, messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StatusReport } from '../protocol/status.ts';
import { PROVIDERS } from '../providers/catalog.ts';
import { ModelRegistry } from '../providers/models.ts';
import { Scheduler } from '../queue/scheduler.ts';
import { removeDaemonRecord, writeDaemonRecord } from '../state/daemon-record.ts';
import type { StatePaths } from '../state/paths.ts';
import { readOrCreateToken } from '../state/token.ts';
import { ThreadStore } from '../threads/thread-store.ts';
import { benchEchoTool } from '../tools/bench-echo.ts';
import { TOOLS } from '../tools/index.ts';
import { VERSION } from '../version.ts';
import { CallBook } from './call-book.ts';
import type { Claim } from './claim.ts';
import { Dispatcher } from './dispatcher.ts';
import { ProviderPool } from './provider-pool.ts';
import { WireServer } from './server.ts';

const THREAD_SWEEP_MS = 3_600_000;

/** A running daemon. */
export interface DaemonHandle {
  host: string;
  port: number;
  /** Drains (queued calls fail, running calls get `drainMs` to finish) and closes. */
  stop(reason?: string): Promise<void>;
  /** Resolves once the daemon has stopped. */
  stopped: Promise<void>;
}

/** Options beyond the configuration, for tests and the CLI. */
export interface DaemonRuntime {
  log: Logger;
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Starts the daemon on a claimed state dir: listens, writes `daemon.json`.
 * On failure the claim is released.
 */
export async function startDaemon(config: DaemonConfig, runtime: DaemonRuntime, claim: Claim): Promise<DaemonHandle> {
  try {
    const providerLimits = resolveProviderLimits(config);
    return await serve(config, runtime, runtime.env ?? process.env, providerLimits, claim.paths, claim.release);
  } catch (err) {
    claim.release();
    throw err;
  }
}

async function serve(
  config: DaemonConfig,
  runtime: DaemonRuntime,
  env: Readonly<Record<string, string | undefined>>,
  providerLimits: Record<string, number>,
  paths: StatePaths,
  releaseLock: () => void,
): Promise<DaemonHandle> {
  const { log } = runtime;
  const token = config.token ?? readOrCreateToken(paths);
  const startedAt = performance.now();
  const scheduler = new Scheduler({ maxInflight: config.maxInflight, providerLimits, defaultProviderLimit: config.defaultProviderLimit });
  const calls = new CallBook();
  const threads = new ThreadStore({ dir: paths.threads, maxTurns: config.threadMaxTurns, maxIdleMs: config.threadIdleMs, log });
  const sweepThreads = () => {
    threads.sweep().catch((error: unknown) => log.warn('thread sweep failed', { error: messageOf(error) }));
  };
  sweepThreads();
  // Expired threads would otherwise stay on disk until someone asks for them.
  const sweeper = setInterval(sweepThreads, THREAD_SWEEP_MS);
  sweeper.unref();

  let server: WireServer | undefined;
  const status = (): StatusReport => {
    const load = scheduler.snapshot();
    return {
      version: VERSION,
      pid: process.pid,
      uptimeMs: Math.round(performance.now() - startedAt),
      isDraining: dispatcher.isDraining,
      global: load.global,
      providers: load.providers,
      sessions: (server?.sessions ?? []).map((s) => ({
        id: s.id,
        name: s.name,
        ageMs: Math.round(performance.now() - s.connectedAt),
        ...calls.countFor(s.id),
      })),
      calls: calls.list(),
    };
  };
  const dispatcher = new Dispatcher({
    tools: config.isBenchOn ? [...TOOLS, benchEchoTool(scheduler)] : TOOLS,
    models: new ModelRegistry(env),
    providers: new ProviderPool(env),
    scheduler,
    calls,
    threads,
    configuredRoots: config.roots,
    log,
    callTimeoutMs: config.callTimeoutMs,
    queueTimeoutMs: config.queueTimeoutMs,
    maxCallsPerSession: config.maxCallsPerSession,
    status,
  });

  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const stop = (reason = 'requested') => {
    stopping ??= drainAndClose(reason);
    return stopping;
  };
  const drainAndClose = async (reason: string) => {
    idle.cancel();
    clearInterval(sweeper);
    log.info('daemon stopping', { reason, calls: calls.size });
    dispatcher.startDraining(new ExaiError('DRAINING', 'Cannot run the call: the daemon is stopping'));
    await waitUntil(() => calls.size === 0, config.drainMs);
    dispatcher.haltRunning(new ExaiError('DRAINING', 'Cannot finish the call: the daemon stopped before it was done'));
    await server!.close();
    removeDaemonRecord(paths, process.pid);
    releaseLock();
    log.info('daemon stopped', { reason });
    markStopped();
  };

  server = new WireServer({
    host: config.host,
    token,
    allowOrigins: config.allowOrigins,
    dispatcher,
    log,
    maxConnections: config.maxConnections,
    onSessionCount: (count) => idle.update(count),
    onStopRequest: () => void stop('stop requested'),
  });
  const idle = idleExit(config.idleExitMs, () => void stop('idle'));
  const port = await listenOn(server, config, log);
  idle.update(0);
  writeDaemonRecord(paths, { pid: process.pid, host: config.host, port, started_at: new Date().toISOString(), version: VERSION });
  log.info('daemon listening', { host: config.host, port, maxInflight: config.maxInflight, providerLimits });
  return { host: config.host, port, stop, stopped };
}

// Shims find the daemon through daemon.json, so when nobody chose the port a
// taken default is no reason to fail: any free port serves as well.
async function listenOn(server: WireServer, config: DaemonConfig, log: Logger): Promise<number> {
  try {
    return await server.listen(config.port);
  } catch (err) {
    if (config.isPortExplicit || !hasCode(err, 'PORT_IN_USE')) throw err;
    log.warn('default port taken, using a free port', { port: config.port });
    return server.listen(0);
  }
}

function resolveProviderLimits(config: DaemonConfig): Record<string, number> {
  const names = PROVIDERS.map((p) => p.name as string);
  const unknown = Object.keys(config.providerLimits).filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    throw new ExaiError('CONFIG_INVALID', `Cannot bound provider "${unknown[0]}": the providers are ${names.join(', ')}`);
  }
  return Object.fromEntries(names.map((n) => [n, config.providerLimits[n] ?? config.defaultProviderLimit]));
}

/** Calls `onIdle` once no session has been open for `idleMs` (0: never). */
function idleExit(idleMs: number, onIdle: () => void) {
  let timer: NodeJS.Timeout | undefined;
  let isCancelled = false;
  return {
    update(sessions: number) {
      clearTimeout(timer);
      if (isCancelled || idleMs === 0 || sessions > 0) return;
      timer = setTimeout(onIdle, idleMs);
      timer.unref();
    },
    cancel() {
      isCancelled = true;
      clearTimeout(timer);
    },
  };
}

async function waitUntil(isDone: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!isDone() && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
