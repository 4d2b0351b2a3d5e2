import { spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { stdioClient, type BenchClient } from './lib/clients.ts';
import { ROOT, cleanEnv, rssOf, sleep, startDaemon, stopChild, track, type Daemon, type ExaiCommand } from './lib/processes.ts';
import { median } from './lib/stats.ts';

// Memory at rest. The RSS of one idle shim (connected to its daemon, no call
// in flight) beside an idle SDK stdio server and a bare `node` for scale;
// then the RSS of one daemon as idle sessions pile up: raw WebSocket
// connections that authenticate and complete an MCP initialize, nothing more.

/** What to measure. */
export interface MemoryOptions {
  exai: ExaiCommand;
  /** Session counts at which the daemon's RSS is read, ascending; 0 is added. */
  sessionCounts: number[];
  /** Idle shims started; the median RSS is reported. */
  shims: number;
  /** Time given to each process to settle before its RSS is read. */
  settleMs: number;
}

/** RSS readings, in bytes. */
export interface MemoryResult {
  idleShimRss: number;
  idleFloorServerRss: number;
  bareNodeRss: number;
  /** The daemon just started, before any session. */
  freshDaemonRss: number;
  /** After {@link WARM_UP_SESSIONS} sessions came and went (0), then with each count open. */
  daemonRss: { sessions: number; rss: number }[];
  /** (RSS at n sessions - RSS at 0) / n, for each n. */
  bytesPerSession: { sessions: number; bytes: number }[];
  /** (RSS at `to` - RSS at `from`) / (to - from), between successive counts. */
  marginalBytesPerSession: { from: number; to: number; bytes: number }[];
}

/** Sessions opened and closed before the daemon's baseline is read. */
export const WARM_UP_SESSIONS = 50;

const INITIALIZE = {
  jsonrpc: '2.0',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'exai-bench-idle', version: '1.0.0' } },
};

/** Measures idle RSS of a shim and of the daemon under idle sessions. */
export async function runMemory(options: MemoryOptions): Promise<MemoryResult> {
  const shimSide = await measureShims(options);
  const daemonSide = await measureSessions(options);
  return { ...shimSide, ...daemonSide };
}

async function measureShims(options: MemoryOptions) {
  const daemon = await startDaemon(options.exai);
  const clients: BenchClient[] = [];
  try {
    const shimArgs = [...options.exai.args, 'shim', '--state-dir', daemon.stateDir, '--no-autostart'];
    for (let i = 0; i < options.shims; i++) {
      const shim = await stdioClient(options.exai.command, shimArgs, cleanEnv());
      clients.push(shim);
      // tools/list goes to the daemon, so it answers once the shim has linked.
      await shim.client.listTools();
    }
    const floor = await stdioClient(process.execPath, [join(ROOT, 'bench', 'floor-server.mjs')], cleanEnv());
    clients.push(floor);
    await floor.client.listTools();
    const bare = track(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }));

    await sleep(options.settleMs);
    const shimRss = clients.slice(0, options.shims).map((c) => rssOf(c.pid!));
    const result = { idleShimRss: median(shimRss), idleFloorServerRss: rssOf(floor.pid!), bareNodeRss: rssOf(bare.pid!) };
    await stopChild(bare);
    return result;
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await daemon.stop();
  }
}

async function measureSessions(options: MemoryOptions) {
  const most = Math.max(...options.sessionCounts);
  const daemon = await startDaemon(options.exai, ['--max-connections', String(most + 16)]);
  const sockets: WebSocket[] = [];
  try {
    await sleep(options.settleMs);
    const freshRss = rssOf(daemon.pid);
    // The first sessions pay once for code that is compiled and heap that
    // grows; open and close some first so that the counts below are per session.
    const warmUp = await Promise.all(Array.from({ length: WARM_UP_SESSIONS }, () => openSession(daemon)));
    for (const ws of warmUp) ws.close();
    await sleep(options.settleMs);
    const daemonRss = [{ sessions: 0, rss: rssOf(daemon.pid) }];
    for (const count of [...options.sessionCounts].sort((a, b) => a - b)) {
      while (sockets.length < count) {
        const batch = Math.min(50, count - sockets.length);
        sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openSession(daemon)))));
      }
      await sleep(options.settleMs);
      daemonRss.push({ sessions: count, rss: rssOf(daemon.pid) });
    }
    const base = daemonRss[0]!.rss;
    const bytesPerSession = daemonRss.slice(1).map((r) => ({ sessions: r.sessions, bytes: Math.round((r.rss - base) / r.sessions) }));
    const marginalBytesPerSession = daemonRss.slice(2).map((r, i) => {
      const before = daemonRss[i + 1]!;
      return { from: before.sessions, to: r.sessions, bytes: Math.round((r.rss - before.rss) / (r.sessions - before.sessions)) };
    });
    return { freshDaemonRss: freshRss, daemonRss, bytesPerSession, marginalBytesPerSession };
  } finally {
    for (const ws of sockets) ws.terminate();
    await daemon.stop();
  }
}

// A session as a client would leave it between calls: authenticated,
// initialized, `notifications/initialized` sent, then silent.
async function openSession(daemon: Daemon): Promise<WebSocket> {
  const ws = new WebSocket(daemon.url, 'mcp', {
    headers: { authorization: `Bearer ${daemon.token}` },
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const answered = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.send(JSON.stringify({ ...INITIALIZE, id: 1 }));
  await answered;
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  return ws;
}
