// `npm run bench`: exai against the floor (a plain SDK stdio server) and a
// peer (supergateway), plus throughput, the queue alone, memory and start-up.
//
//   npm run bench [-- --quick] [--only latency,throughput,scheduler,memory,startup]
//                 [--binary build/exai] [--rounds N]
//
// exai runs from source unless --binary names the single executable. Writes
// bench/results/bench.json and bench/results/bench.md and prints the table.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runLatency } from './latency.ts';
import { ROOT, exaiCommand, stopAll, type ExaiCommand } from './lib/processes.ts';
import { runMemory } from './memory.ts';
import { judgeGoals, toMarkdown, type BenchResult, type Machine } from './report.ts';
import { runScheduler } from './scheduler.ts';
import { runStartup } from './startup.ts';
import { runThroughput } from './throughput.ts';

const SUITES = ['latency', 'throughput', 'scheduler', 'memory', 'startup'] as const;
type Suite = (typeof SUITES)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    binary: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
  },
});

const isQuick = values.quick;
const suites = parseSuites(values.only);
const binary = values.binary === undefined ? undefined : resolve(values.binary);
const exai = exaiCommand(binary);

// A signal must not leave daemons, shims or gateways behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));
}

try {
  const result = await runSuites(exai);
  mkdirSync(values.out, { recursive: true });
  const markdown = toMarkdown(result);
  writeFileSync(join(values.out, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(values.out, 'bench.md'), markdown);
  process.stdout.write(`${markdown}wrote ${join(values.out, 'bench.json')} and bench.md\n`);
} finally {
  await stopAll();
}

async function runSuites(command: ExaiCommand): Promise<BenchResult> {
  const loadAverageBefore = loadavg();
  const partial: Omit<BenchResult, 'goals'> = { machine: undefined as unknown as Machine };

  if (suites.has('latency')) {
    note('latency: floor, exai shim, exai direct, supergateway (WebSocket, streamable HTTP)');
    const rounds = values.rounds === undefined ? (isQuick ? 20 : 120) : Number(values.rounds);
    partial.latency = await runLatency({ exai: command, rounds, batch: 25, warmUp: isQuick ? 100 : 500, withHttpPeer: true });
  }
  if (suites.has('throughput')) {
    note('throughput: 8 and 32 clients, --max-inflight 8');
    partial.throughput = await runThroughput({
      exai: command,
      clientCounts: [8, 32],
      maxInflight: 8,
      trialMs: isQuick ? 1000 : 3000,
      trials: isQuick ? 1 : 3,
    });
  }
  if (suites.has('scheduler')) {
    note('scheduler: the queue alone, 1,000 waiters');
    partial.scheduler = await runScheduler({ waiters: 1000, repetitions: isQuick ? 3 : 7 });
  }
  if (suites.has('memory')) {
    note('memory: idle shim, daemon with 0, 100 and 1,000 idle sessions');
    partial.memory = await runMemory({ exai: command, sessionCounts: [100, 1000], shims: 3, settleMs: isQuick ? 500 : 2000 });
  }
  if (suites.has('startup')) {
    note('start-up: bench/startup.mjs');
    partial.startup = await runStartup(binary ?? join(ROOT, 'build', 'exai'), isQuick ? 10 : 30);
  }

  partial.machine = machine(command, loadAverageBefore);
  return { ...partial, goals: judgeGoals(partial) };
}

function machine(command: ExaiCommand, loadAverageBefore: number[]): Machine {
  const cores = cpus();
  return {
    date: new Date().toISOString(),
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverageBefore,
    loadAverageAfter: loadavg(),
    exai: command.label,
    commit: gitCommit(),
    sdk: packageVersion('@modelcontextprotocol/sdk'),
    supergateway: packageVersion('supergateway'),
  };
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const isDirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return isDirty ? `${commit} (src changed since)` : commit;
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  const text = readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function parseSuites(only: string | undefined): Set<Suite> {
  if (only === undefined) return new Set(SUITES);
  const names = only.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new TypeError(`Cannot run suite "${unknown[0]}": the suites are ${SUITES.join(', ')}`);
  return new Set(names as Suite[]);
}

function note(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}
