import { webSocketClient, type BenchClient } from './lib/clients.ts';
import { cpuMsOf, rssOf, startDaemon, type ExaiCommand } from './lib/processes.ts';
import { median, round } from './lib/stats.ts';

// Throughput: N MCP clients, each its own session on the daemon, each calling
// the trivial tool in a closed loop (the next call as soon as the last one
// answered). The clients talk to the daemon directly over WebSocket, so that
// what is measured is the daemon, not N shim processes fighting over two
// cores. The daemon's CPU time per call comes from /proc.

/** What to measure. */
export interface ThroughputOptions {
  exai: ExaiCommand;
  clientCounts: number[];
  maxInflight: number;
  /** Measured time of one trial. */
  trialMs: number;
  /** Trials per setting; settings take turns, and the median trial is reported. */
  trials: number;
}

/** One setting: how many clients, and whether each call takes slots. */
export interface ThroughputRow {
  clients: number;
  /** `none`: the tool takes no slot; `kimi`: a global and a kimi slot, as a model call. */
  slots: 'none' | 'kimi';
  callsPerSecond: number;
  daemonCpuMsPerCall: number;
  /** CPU the daemon used per second of wall time (1.0 = one core busy). */
  daemonCores: number;
  /** CPU of the benchmark's own clients per call, for scale. */
  clientCpuMsPerCall: number;
  trialsCallsPerSecond: number[];
}

/** Throughput for every client count, with and without slots. */
export interface ThroughputResult {
  maxInflight: number;
  trialMs: number;
  rows: ThroughputRow[];
  /** The daemon's RSS after the warm-up and after every trial, and the calls in between: a leak shows here. */
  daemonRss: { before: number; after: number; calls: number };
}

interface Trial {
  calls: number;
  wallMs: number;
  daemonCpuMs: number;
  clientCpuMs: number;
}

/** Runs the throughput measurement and returns one row per setting. */
export async function runThroughput(options: ThroughputOptions): Promise<ThroughputResult> {
  const maxClients = Math.max(...options.clientCounts);
  // The kimi bound is raised to the global one so that the global bound is
  // the one that binds, as the issue asks (`--max-inflight N`).
  const daemon = await startDaemon(options.exai, [
    '--max-inflight', String(options.maxInflight),
    '--provider-max-inflight', `kimi=${options.maxInflight}`,
    '--max-connections', String(maxClients + 16),
  ]);
  const headers = { authorization: `Bearer ${daemon.token}` };
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < maxClients; i++) clients.push(await webSocketClient(daemon.url, headers));

    const settings = options.clientCounts.flatMap((count) => (['none', 'kimi'] as const).map((slots) => ({ count, slots })));
    const trials = new Map(settings.map((s) => [s, [] as Trial[]]));
    // Unmeasured: JIT and the first calls of every session.
    for (const s of settings) await runTrial(clients.slice(0, s.count), s.slots, daemon.pid, 300);
    const rssBefore = rssOf(daemon.pid);
    for (let t = 0; t < options.trials; t++) {
      for (const s of t % 2 === 0 ? settings : [...settings].reverse()) {
        trials.get(s)!.push(await runTrial(clients.slice(0, s.count), s.slots, daemon.pid, options.trialMs));
      }
    }
    const calls = [...trials.values()].flat().reduce((n, t) => n + t.calls, 0);
    return {
      maxInflight: options.maxInflight,
      trialMs: options.trialMs,
      rows: settings.map((s) => rowOf(s.count, s.slots, trials.get(s)!)),
      daemonRss: { before: rssBefore, after: rssOf(daemon.pid), calls },
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await daemon.stop();
  }
}

async function runTrial(clients: BenchClient[], slots: 'none' | 'kimi', daemonPid: number, trialMs: number): Promise<Trial> {
  const args = slots === 'none' ? {} : { provider: slots };
  const cpuBefore = cpuMsOf(daemonPid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + trialMs;
  let calls = 0;

  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < deadline) {
        await client.echo(args);
        calls++;
      }
    }),
  );

  const wallMs = performance.now() - started;
  const clientCpu = process.cpuUsage(clientBefore);
  return { calls, wallMs, daemonCpuMs: cpuMsOf(daemonPid) - cpuBefore, clientCpuMs: (clientCpu.user + clientCpu.system) / 1000 };
}

function rowOf(clients: number, slots: 'none' | 'kimi', trials: Trial[]): ThroughputRow {
  const rates = trials.map((t) => (t.calls * 1000) / t.wallMs);
  const calls = trials.reduce((n, t) => n + t.calls, 0);
  const wallMs = trials.reduce((n, t) => n + t.wallMs, 0);
  const daemonCpuMs = trials.reduce((n, t) => n + t.daemonCpuMs, 0);
  const clientCpuMs = trials.reduce((n, t) => n + t.clientCpuMs, 0);
  return {
    clients,
    slots,
    callsPerSecond: Math.round(median(rates)),
    daemonCpuMsPerCall: round(daemonCpuMs / calls),
    daemonCores: round(daemonCpuMs / wallMs, 2),
    clientCpuMsPerCall: round(clientCpuMs / calls),
    trialsCallsPerSecond: rates.map((r) => Math.round(r)),
  };
}
