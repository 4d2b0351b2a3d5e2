import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEnv } from '../../test/support/exai-processes.ts';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How the benchmark starts exai: the built binary, or node and the source entry. */
export interface ExaiCommand {
  command: string;
  args: string[];
  /** `source` or the binary's path, for the results. */
  label: string;
}

/** exai from source (`node bin/exai.js`, compiled on the fly by tsx) or from a binary. */
export function exaiCommand(binary: string | undefined): ExaiCommand {
  if (binary) return { command: binary, args: [], label: binary };
  return { command: process.execPath, args: [join(ROOT, 'bin', 'exai.js')], label: 'source (node bin/exai.js, tsx)' };
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

/** A fresh state dir, removed by {@link stopAll}. */
export function makeStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'exai-bench-'));
  dirs.add(dir);
  return dir;
}

/**
 * The tests' environment (no keys or exai settings of the machine), and no
 * NODE_ variables either: a profiler flag meant for the benchmark must not
 * reach the processes it measures.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = testEnv();
  for (const key of Object.keys(env)) if (key.startsWith('NODE_')) delete env[key];
  return { ...env, ...extra };
}

/** A process the benchmark started and will stop. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

/** A running `exai daemon`. */
export interface Daemon {
  pid: number;
  port: number;
  token: string;
  stateDir: string;
  url: string;
  stop(): Promise<void>;
}

/** Starts `exai daemon --bench --port 0` with `args`, and waits until `daemon.json` names it. */
export async function startDaemon(exai: ExaiCommand, args: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  const stateDir = makeStateDir();
  const child = track(
    spawn(exai.command, [...exai.args, 'daemon', '--bench', '--port', '0', '--state-dir', stateDir, ...args], {
      env: cleanEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));

  const record = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`Cannot start the daemon: it exited with ${child.exitCode}: ${stderr}`);
    const path = join(stateDir, 'daemon.json');
    if (!existsSync(path)) return undefined;
    const value = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; port: number };
    return value.pid === child.pid ? value : undefined;
  }, 30_000, 'daemon.json');

  return {
    pid: child.pid!,
    port: record.port,
    token: readFileSync(join(stateDir, 'token'), 'utf8').trim(),
    stateDir,
    url: `ws://127.0.0.1:${record.port}`,
    stop: () => stopChild(child),
  };
}

/** A started supergateway: stdio server in, WebSocket or streamable HTTP out. */
export interface Gateway {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** Starts supergateway in front of `stdioCommand`, with its logs off (its fastest setting). */
export async function startSupergateway(output: 'ws' | 'streamableHttp', stdioCommand: string): Promise<Gateway> {
  const port = await freePort();
  const entry = join(ROOT, 'node_modules', 'supergateway', 'dist', 'index.js');
  const modeArgs = output === 'ws' ? ['--outputTransport', 'ws'] : ['--outputTransport', 'streamableHttp', '--stateful'];
  const child = track(
    spawn(process.execPath, [entry, '--stdio', stdioCommand, ...modeArgs, '--port', String(port), '--logLevel', 'none'], {
      cwd: ROOT,
      env: cleanEnv(),
      // supergateway exits when its stdin closes; keep it open until stop().
      stdio: ['pipe', 'ignore', 'ignore'],
    }),
  );
  await waitForPort(port, child);
  const url = output === 'ws' ? `ws://127.0.0.1:${port}/message` : `http://127.0.0.1:${port}/mcp`;
  return { pid: child.pid!, url, stop: () => stopChild(child) };
}

/** A started WebSocket floor server (bench/floor-ws-server.ts). */
export interface FloorWs {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** Starts the SDK server behind exai's WebSocket transport, and reads the port it prints. */
export async function startFloorWs(): Promise<FloorWs> {
  const script = join(ROOT, 'bench', 'floor-ws-server.ts');
  const child = track(spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'ignore'] }));
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const port = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`Cannot start the WebSocket floor: it exited with ${child.exitCode}`);
    return text.includes('\n') ? Number.parseInt(text, 10) : undefined;
  }, 30_000, 'the WebSocket floor\'s port');
  return { pid: child.pid!, url: `ws://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

/** SIGTERM a child and its descendants, then wait for the child's exit (SIGKILL after 5 s). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;

  const descendants = child.pid === undefined ? [] : processTree(child.pid).slice(1);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  for (const pid of descendants) killQuietly(pid);
}

/** Stops every process the benchmark started and removes its state dirs. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child)));
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** `pid` and every process below it, parents first (Linux: /proc). */
export function processTree(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    for (const task of listDir(`/proc/${found[i]}/task`)) {
      const text = readQuietly(`/proc/${found[i]}/task/${task}/children`);
      for (const child of text.split(' ')) if (child.trim() !== '') found.push(Number(child));
    }
  }
  return found;
}

// Clock ticks per second of /proc/<pid>/stat; 100 on every Linux build we meet.
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used, in milliseconds; 10 ms resolution. */
export function cpuMsOf(pid: number): number {
  const stat = readQuietly(`/proc/${pid}/stat`);
  // The command name may hold spaces; the fields start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** CPU time of a process and all its descendants now, in milliseconds. */
export function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((total, p) => total + cpuMsOf(p), 0);
}

/** Resident set size of a process, in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readQuietly(`/proc/${pid}/status`));
  if (!match) throw new Error(`Cannot read the RSS of pid ${pid}: /proc/${pid}/status has no VmRSS`);
  return Number(match[1]) * 1024;
}

/** Polls `probe` until it returns a value; throws after `timeoutMs` naming what was awaited. */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Cannot start supergateway: it exited with ${child.exitCode}`);
    if (await isListening(port)) return;
    await sleep(50);
  }
  throw new Error(`Timed out after 30000 ms waiting for supergateway on port ${port}`);
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function readQuietly(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
