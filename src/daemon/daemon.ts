import { mkdirSync } from 'node:fs';
import type { DaemonConfig } from '../config.ts';
import { ExaiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StatusReport } from '../protocol/status.ts';
import { PROVIDERS } from '../providers/catalog.ts';
import { ModelRegistry } from '../providers/models.ts';
import { Scheduler } from '../queue/scheduler.ts';
import { acquireDaemonLock } from '../state/daemon-lock.ts';
import { readDaemonRecord, removeDaemonRecord, writeDaemonRecord } from '../state/daemon-record.ts';
import { statePaths } from '../state/paths.ts';
import { readOrCreateToken } from '../state/token.ts';
import { TOOLS } from '../tools/index.ts';
import { VERSION } from '../version.ts';
import { CallBook } from './call-book.ts';
import { isLoopback } from './door.ts';
import { Dispatcher } from './dispatcher.ts';
import { ProviderPool } from './provider-pool.ts';
import { WireServer } from './server.ts';

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
  /** How long running calls may take to finish when the daemon stops. */
  drainMs?: number;
}

/** Starts the daemon: takes the state dir's lock, listens, writes `daemon.json`. */
export async function startDaemon(config: DaemonConfig, runtime: DaemonRuntime): Promise<DaemonHandle> {
  const env = runtime.env ?? process.env;
  if (!isLoopback(config.host) && config.token === undefined) {
    throw new ExaiError('CONFIG_INVALID', `Cannot listen on ${config.host}: a host other than loopback needs a token set with --token or EXAI_WS_TOKEN`);
  }
  const providerLimits = resolveProviderLimits(config);

  const paths = statePaths(config.stateDir);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const lock = acquireDaemonLock(paths);
  if (!lock.isHeld) {
    const record = readDaemonRecord(paths);
    const where = record ? ` on port ${record.port}` : '';
    throw new ExaiError('ALREADY_RUNNING', `Cannot start the daemon: exai daemon pid ${lock.ownerPid} already serves ${paths.dir}${where}`, {
      facts: { pid: lock.ownerPid, port: record?.port },
    });
  }

  try {
    return await serve(config, runtime, env, providerLimits, paths, lock.release);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function serve(
  config: DaemonConfig,
  runtime: DaemonRuntime,
  env: Readonly<Record<string, string | undefined>>,
  providerLimits: Record<string, number>,
  paths: ReturnType<typeof statePaths>,
  releaseLock: () => void,
): Promise<DaemonHandle> {
  const { log } = runtime;
  const token = config.token ?? readOrCreateToken(paths);
  const startedAt = performance.now();
  const scheduler = new Scheduler({ maxInflight: config.maxInflight, providerLimits, defaultProviderLimit: config.defaultProviderLimit });
  const calls = new CallBook();

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
    tools: TOOLS,
    models: new ModelRegistry(env),
    providers: new ProviderPool(env),
    scheduler,
    calls,
    log,
    callTimeoutMs: config.callTimeoutMs,
    queueTimeoutMs: config.queueTimeoutMs,
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
    log.info('daemon stopping', { reason, calls: calls.size });
    dispatcher.startDraining(new ExaiError('DRAINING', 'Cannot run the call: the daemon is stopping'));
    await waitUntil(() => calls.size === 0, runtime.drainMs ?? 10_000);
    dispatcher.haltRunning(new ExaiError('DRAINING', 'Cannot finish the call: the daemon stopped before it was done'));
    await server!.close();
    removeDaemonRecord(paths, process.pid);
    releaseLock();
    log.info('daemon stopped', { reason });
    markStopped();
  };

  server = new WireServer({
    host: config.host,
    port: config.port,
    token,
    allowOrigins: config.allowOrigins,
    dispatcher,
    log,
    onStopRequest: () => void stop('stop requested'),
  });
  const port = await server.listen();
  writeDaemonRecord(paths, { pid: process.pid, host: config.host, port, started_at: new Date().toISOString(), version: VERSION });
  log.info('daemon listening', { host: config.host, port, maxInflight: config.maxInflight, providerLimits });
  return { host: config.host, port, stop, stopped };
}

function resolveProviderLimits(config: DaemonConfig): Record<string, number> {
  const names = PROVIDERS.map((p) => p.name as string);
  const unknown = Object.keys(config.providerLimits).filter((n) => !names.includes(n));
  if (unknown.length > 0) {
    throw new ExaiError('CONFIG_INVALID', `Cannot bound provider "${unknown[0]}": the providers are ${names.join(', ')}`);
  }
  return Object.fromEntries(names.map((n) => [n, config.providerLimits[n] ?? config.defaultProviderLimit]));
}

async function waitUntil(isDone: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!isDone() && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
