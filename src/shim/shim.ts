import type { Readable, Writable } from 'node:stream';
import type { ShimConfig } from '../config.ts';
import { createLogger, fileSink, type LogSink } from '../log.ts';
import { shimLogPath, statePaths } from '../state/paths.ts';
import { selfCommand } from '../self.ts';
import { VERSION } from '../version.ts';
import { linkOpener, type Autostart } from './daemon-link.ts';
import { Relay } from './relay.ts';
import { StdioChannel } from './stdio-channel.ts';
import { isolateOwnStdio } from './stdio-isolation.ts';

/** The shim's streams and environment; tests pass their own. */
export interface ShimIo {
  stdin: Readable;
  stdout: Writable;
  env: NodeJS.ProcessEnv;
}

// Seconds an autostarted daemon stays with no session before it exits.
const AUTOSTART_IDLE_EXIT_S = 600;

// How often to check that the client that started us is still there.
const PARENT_CHECK_MS = 1000;

/** Runs `exai shim` until its client goes away; resolves with the exit code. */
export async function runShim(config: ShimConfig, io: ShimIo = defaultIo()): Promise<number> {
  // Before anything else: no process started from here may hold the client's pipes.
  const isolation = isolateOwnStdio();

  const paths = statePaths(config.stateDir);
  const logFile = new DeferredSink();
  const log = createLogger(logFile.sink, config.logLevel, 'shim', { pid: process.pid });
  if (isolation.warning) log.warn('stdio isolation skipped', { warning: isolation.warning });

  let sessionName = config.name;
  const channel = new StdioChannel(io.stdin, io.stdout);
  const relay = new Relay({
    client: channel,
    log,
    version: VERSION,
    connectTimeoutMs: connectTimeoutMs(io.env),
    onInitialize: (params) => {
      const client = (params.clientInfo as { name?: string } | undefined)?.name ?? 'client';
      sessionName ??= `${client}-${process.pid}`;
      logFile.open(shimLogPath(paths, sessionName));
      log.info('client initialized', { session: sessionName, client });
    },
    openLink: linkOpener({
      paths,
      host: config.host,
      port: config.port,
      token: config.token,
      sessionName: () => sessionName,
      log,
      autostart: config.isAutostartOn ? autostartOf(config, io.env) : undefined,
    }),
  });

  const reason = await new Promise<string>((resolve) => {
    channel.onclose = () => resolve('stdin closed');
    watchParent(() => resolve('parent process gone'));
    relay.start();
    channel.start();
  });

  log.info('shim exiting', { reason });
  if (!logFile.isOpen) logFile.open(shimLogPath(paths, sessionName ?? String(process.pid)));
  await relay.close();
  logFile.close();
  return 0;
}

function autostartOf(config: ShimConfig, env: NodeJS.ProcessEnv): Autostart {
  const args = ['--state-dir', config.stateDir, '--host', config.host, '--log-level', config.logLevel];
  // A daemon nobody asked for by hand goes away once every client has left.
  if (env.EXAI_IDLE_EXIT === undefined) args.push('--idle-exit', String(AUTOSTART_IDLE_EXIT_S));
  if (config.port !== undefined) args.push('--port', String(config.port));
  // The token travels in the environment, never on a command line others can read.
  const daemonEnv = config.token === undefined ? env : { ...env, EXAI_WS_TOKEN: config.token };
  return { command: selfCommand(), args, env: daemonEnv };
}

function connectTimeoutMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.EXAI_CONNECT_TIMEOUT ?? '');
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000;
}

function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  // When the parent dies the shim is re-parented (to init or a subreaper), so
  // the ppid changes; polling catches a parent killed with SIGKILL, which
  // may leave our stdin open when a grandchild still holds it.
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone();
    }
  }, PARENT_CHECK_MS);
  timer.unref();
}

function defaultIo(): ShimIo {
  return { stdin: process.stdin, stdout: process.stdout, env: process.env };
}

/** A log sink that keeps lines in memory until the log file's name is known. */
class DeferredSink {
  #lines: string[] = [];
  #file: { sink: LogSink; close(): void } | undefined;

  readonly sink: LogSink = (line) => {
    if (this.#file) this.#file.sink(line);
    else if (this.#lines.length < 1000) this.#lines.push(line);
  };

  get isOpen(): boolean {
    return this.#file !== undefined;
  }

  open(path: string): void {
    if (this.#file) return;
    this.#file = fileSink(path);
    for (const line of this.#lines.splice(0)) this.#file.sink(line);
  }

  close(): void {
    this.#file?.close();
  }
}
