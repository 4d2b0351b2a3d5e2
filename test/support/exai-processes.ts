import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeno } from './runtime.ts';

/** The entry script that runs exai from source. */
export const EXAI_ENTRY = fileURLToPath(new URL('../../bin/exai.js', import.meta.url));

/** The TypeScript entry, which Deno runs as it is. */
const SOURCE_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/**
 * How tests start exai: the built binary when EXAI_TEST_BINARY names one;
 * else from source, with the runtime the tests run in (node and the entry
 * script, or `deno run`), so that under Deno the daemon and shims are
 * Deno processes too.
 */
export function exaiCommand(): { command: string; args: string[] } {
  const binary = process.env.EXAI_TEST_BINARY;
  if (binary) return { command: binary, args: [] };
  if (isDeno) return { command: process.execPath, args: ['run', '-A', SOURCE_MAIN] };
  return { command: process.execPath, args: [EXAI_ENTRY] };
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

/** A fresh state dir, removed by {@link cleanUp}. */
export function makeStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'exai-test-'));
  dirs.add(dir);
  return dir;
}

/** The environment exai processes get in tests: no keys or settings from the machine. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /(_API_KEY|_API_URL|_BASE_URL|_MODEL_NAME)$/.test(key)) continue;
    if (key.startsWith('EXAI_') || key === 'DEFAULT_MODEL' || key.startsWith('NODE_TEST')) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Sends a signal to a child without going through `child.kill`: after
 * `child.kill`, Deno reports the child's exit as (null, signal) even when it
 * caught the signal and exited with a code of its own.
 */
export function signal(child: ChildProcess, name: NodeJS.Signals): void {
  process.kill(child.pid!, name);
}

/** A daemon started as its own process. */
export interface DaemonProcess {
  port: number;
  pid: number;
  stateDir: string;
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/** Starts `exai daemon --port 0` and waits until its `daemon.json` names it. */
export async function startDaemon(
  options: { stateDir?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<DaemonProcess> {
  const stateDir = options.stateDir ?? makeStateDir();
  const { command, args } = exaiCommand();
  const child = spawn(command, [...args, 'daemon', '--port', '0', '--state-dir', stateDir, ...(options.args ?? [])], {
    env: testEnv(options.env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const record = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${stderr}`);
    const path = join(stateDir, 'daemon.json');
    if (!existsSync(path)) return undefined;
    const value = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; port: number };
    return value.pid === child.pid ? value : undefined;
  }, 20_000, 'daemon.json');

  return {
    port: record.port,
    pid: child.pid!,
    stateDir,
    child,
    stderr: () => stderr,
    exited,
    stop: async () => {
      signal(child, 'SIGTERM');
      await exited;
    },
  };
}

/** An MCP client talking to its own `exai shim` process over stdio. */
export interface ShimClient {
  client: Client;
  transport: StdioClientTransport;
  pid: number;
  close(): Promise<void>;
}

/** Starts `exai shim` as a child process and connects the SDK's client to it. */
export async function startShimClient(options: {
  stateDir: string;
  clientName?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Directories the client offers as its MCP roots; omitted: it offers none. */
  roots?: string[];
}): Promise<ShimClient> {
  const { command, args } = exaiCommand();
  const transport = new StdioClientTransport({
    command,
    args: [...args, 'shim', '--state-dir', options.stateDir, ...(options.args ?? ['--no-autostart'])],
    env: testEnv(options.env),
    stderr: 'pipe',
  });
  const capabilities = options.roots ? { roots: { listChanged: true } } : {};
  const client = new Client({ name: options.clientName ?? 'test-client', version: '1.0.0' }, { capabilities });
  if (options.roots) {
    const roots = options.roots.map((dir) => ({ uri: pathToFileURL(dir).href }));
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots }));
  }
  await client.connect(transport);
  return {
    client,
    transport,
    pid: transport.pid!,
    close: () => client.close(),
  };
}

/** Runs `exai ARGS` to its end and returns its output. */
export function runExai(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args } = exaiCommand();
  const child = spawn(command, [...args, ...argv], { env: testEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Polls `probe` until it returns a value; throws after `timeoutMs` naming what was awaited. */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Kills every process the tests started and removes their state dirs. */
export async function cleanUp(): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of dirs) {
    killDaemonOf(dir);
    killProcessesNaming(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  dirs.clear();
}

// A daemon still starting has no daemon.json yet: find it by its command line
// (Linux), or it would outlive the test and write into a removed state dir.
function killProcessesNaming(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(dir)) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone already, or not ours to read.
    }
  }
}

// An autostarted daemon is not our child: find it through its state dir.
function killDaemonOf(dir: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(join(dir, 'daemon.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
  } catch {
    // No daemon left.
  }
}
