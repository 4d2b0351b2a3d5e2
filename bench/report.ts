import type { LatencyResult } from './latency.ts';
import { WARM_UP_SESSIONS, type MemoryResult } from './memory.ts';
import type { SchedulerResult } from './scheduler.ts';
import type { StartupResult } from './startup.ts';
import type { ThroughputResult } from './throughput.ts';

/** Where and with what the numbers were taken. */
export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  exai: string;
  commit: string;
  sdk: string;
  supergateway: string;
}

/** The whole result file. */
export interface BenchResult {
  machine: Machine;
  latency?: LatencyResult;
  throughput?: ThroughputResult;
  scheduler?: SchedulerResult;
  memory?: MemoryResult;
  startup?: StartupResult;
  goals: Goal[];
}

/** One goal of the issue and whether this run met it. */
export interface Goal {
  what: string;
  target: string;
  measured: string;
  isMet: boolean;
}

/** The goals the issue sets, judged on this run's numbers. */
export function judgeGoals(result: Omit<BenchResult, 'goals'>): Goal[] {
  const goals: Goal[] = [];
  const { latency, memory, startup } = result;
  if (latency) {
    const added = latency.addedOverFloor;
    goals.push({ what: 'latency added over the floor, p50', target: '<= +0.5 ms', measured: `${signed(added.p50Ms)} ms`, isMet: added.p50Ms <= 0.5 });
    goals.push({ what: 'latency added over the floor, p99', target: '<= +2 ms', measured: `${signed(added.p99Ms)} ms`, isMet: added.p99Ms <= 2 });
    for (const [peer, ratio] of Object.entries(latency.againstPeers)) {
      goals.push({ what: `exai shim vs ${peer}, p50`, target: 'ratio < 1', measured: `${ratio.p50Ratio}`, isMet: ratio.p50Ratio < 1 });
      goals.push({ what: `exai shim vs ${peer}, p99`, target: 'ratio < 1', measured: `${ratio.p99Ratio}`, isMet: ratio.p99Ratio < 1 });
    }
  }
  if (memory) {
    // Judged at the largest count: at small counts the RSS moves in the steps
    // in which V8 grows its heap, not per session.
    const most = memory.bytesPerSession.at(-1)!;
    goals.push({
      what: 'daemon memory per idle session',
      target: '< 64 KiB',
      measured: `${kib(most.bytes)} KiB (${most.sessions} sessions vs 0)`,
      isMet: most.bytes < 64 * 1024,
    });
  }
  if (startup && !startup.isSkipped) {
    goals.push({ what: 'shim start-up vs node -e 0 (medians)', target: `<= ${startup.goalRatio}x`, measured: `${startup.ratio}x`, isMet: startup.ratio <= startup.goalRatio });
  }
  return goals;
}

/** The short Markdown report of one run. */
export function toMarkdown(result: BenchResult): string {
  const m = result.machine;
  const lines = [
    `Run ${m.date} on ${m.cpus} x ${m.cpuModel}, node ${m.node} (${m.platform}), ` +
      `load average ${m.loadAverageBefore.map(fixed2).join(' ')} before, ${m.loadAverageAfter.map(fixed2).join(' ')} after; ` +
      `exai from ${m.exai} at ${m.commit}; SDK ${m.sdk}, supergateway ${m.supergateway}.`,
    '',
  ];
  if (result.goals.length > 0) lines.push(...goalTable(result.goals), '');
  if (result.latency) lines.push(...latencyTable(result.latency), '');
  if (result.throughput) lines.push(...throughputTable(result.throughput), '');
  if (result.scheduler) lines.push(...schedulerTable(result.scheduler), '');
  if (result.memory) lines.push(...memoryTable(result.memory), '');
  if (result.startup) lines.push(...startupLines(result.startup), '');
  return lines.join('\n');
}

function goalTable(goals: Goal[]): string[] {
  return [
    '| goal | target | measured | met |',
    '| --- | --- | --- | --- |',
    ...goals.map((g) => `| ${g.what} | ${g.target} | ${g.measured} | ${g.isMet ? 'yes' : '**no**'} |`),
  ];
}

function latencyTable(latency: LatencyResult): string[] {
  const floor = latency.subjects.find((s) => s.name === 'floor')!.ms;
  return [
    `Latency per sequential call, ${latency.callsPerSubject} calls per path, paths interleaved (ms):`,
    '',
    '| path | p50 | p90 | p99 | mean | p50 vs floor | server CPU per call |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...latency.subjects.map(
      (s) =>
        `| ${s.name}: ${s.path} | ${s.ms.median} | ${s.ms.p90} | ${s.ms.p99} | ${s.ms.mean} | ` +
        `${(s.ms.median / floor.median).toFixed(2)}x | ${s.serverCpuMsPerCall} ms |`,
    ),
  ];
}

function throughputTable(throughput: ThroughputResult): string[] {
  return [
    `Throughput, clients straight on the daemon over WebSocket, \`--max-inflight ${throughput.maxInflight}\`, ` +
      `closed loop, median of the trials (${throughput.trialMs} ms each):`,
    '',
    '| clients | slots per call | calls/s | daemon CPU per call | daemon cores busy | client CPU per call |',
    '| --- | --- | --- | --- | --- | --- |',
    ...throughput.rows.map(
      (r) =>
        `| ${r.clients} | ${r.slots === 'none' ? 'none' : 'global + kimi'} | ${r.callsPerSecond} | ` +
        `${r.daemonCpuMsPerCall} ms | ${r.daemonCores} | ${r.clientCpuMsPerCall} ms |`,
    ),
    '',
    `Daemon RSS over the measured trials: ${mib(throughput.daemonRss.before)} MiB before, ` +
      `${mib(throughput.daemonRss.after)} MiB after ${throughput.daemonRss.calls} calls.`,
  ];
}

function schedulerTable(scheduler: SchedulerResult): string[] {
  return [
    `Queue alone, in-process, ${scheduler.waiters} waiters:`,
    '',
    '| case | operations/s | µs per operation |',
    '| --- | --- | --- |',
    ...scheduler.rows.map((r) => `| ${r.name}: ${r.description} | ${r.opsPerSecond} | ${r.usPerOp} |`),
  ];
}

function memoryTable(memory: MemoryResult): string[] {
  return [
    'Memory at rest (RSS):',
    '',
    '| what | RSS |',
    '| --- | --- |',
    `| one idle exai shim, linked to its daemon | ${mib(memory.idleShimRss)} MiB |`,
    `| one idle SDK stdio server (the floor), for scale | ${mib(memory.idleFloorServerRss)} MiB |`,
    `| bare \`node\`, for scale | ${mib(memory.bareNodeRss)} MiB |`,
    `| daemon just started | ${mib(memory.freshDaemonRss)} MiB |`,
    ...memory.daemonRss.map((r) => `| daemon with ${r.sessions} idle sessions (after ${WARM_UP_SESSIONS} came and went) | ${mib(r.rss)} MiB |`),
    ...memory.bytesPerSession.map((b) => `| daemon, per session (${b.sessions} sessions vs 0) | ${kib(b.bytes)} KiB |`),
    ...memory.marginalBytesPerSession.map((b) => `| daemon, per session (${b.to} sessions vs ${b.from}) | ${kib(b.bytes)} KiB |`),
  ];
}

function startupLines(startup: StartupResult): string[] {
  if (startup.isSkipped) return [`Start-up: skipped, ${startup.reason}.`];
  return [
    `Start-up (bench/startup.mjs, ${startup.runs} runs each, alternating): \`exai shim\` to its initialize answer ` +
      `median ${startup.shimInitializeMs.median} ms (p90 ${startup.shimInitializeMs.p90}); \`node -e 0\` median ` +
      `${startup.nodeExitMs.median} ms (p90 ${startup.nodeExitMs.p90}); ratio ${startup.ratio}x.`,
  ];
}

function signed(value: number): string {
  return value >= 0 ? `+${value}` : String(value);
}

function fixed2(value: number): string {
  return value.toFixed(2);
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}
