import { join } from 'node:path';
import { httpClient, stdioClient, webSocketClient, type BenchClient } from './lib/clients.ts';
import {
  ROOT,
  cleanEnv,
  makeStateDir,
  startDaemon,
  startFloorWs,
  startSupergateway,
  treeCpuMs,
  type ExaiCommand,
} from './lib/processes.ts';
import { round, shuffled, summarize, type Summary } from './lib/stats.ts';

// Latency added per call: the same trivial tool, called sequentially by the
// SDK's client, over every path a user could pick. Subjects take turns in
// small batches, in a new random order each round, so that all of them see
// the same machine load; a slow moment hurts every subject alike.

/** How long and how finely to measure. */
export interface LatencyOptions {
  exai: ExaiCommand;
  /** Rounds of turns; each subject runs `batch` calls per round. */
  rounds: number;
  batch: number;
  /** Unmeasured calls per subject first (JIT, connection set-up). */
  warmUp: number;
  /** Include the streamable HTTP variant of supergateway. */
  withHttpPeer: boolean;
}

/** One path's result. */
export interface SubjectResult {
  name: string;
  path: string;
  /** Per-call round trip, in milliseconds. */
  ms: Summary;
  /** CPU time of the serving processes (not the client) per call, in milliseconds. */
  serverCpuMsPerCall: number;
}

/** Every path's result and the comparisons the goals are about. */
export interface LatencyResult {
  callsPerSubject: number;
  subjects: SubjectResult[];
  /** exai through a shim against the floor: added milliseconds at the median and at p99. */
  addedOverFloor: { p50Ms: number; p99Ms: number };
  /** exai through a shim against each peer: ratio exai / peer (below 1: exai faster). */
  againstPeers: Record<string, { p50Ratio: number; p99Ratio: number }>;
}

interface Subject {
  name: string;
  path: string;
  client: BenchClient;
  /** The processes that serve this subject's calls, for CPU accounting. */
  serverPids: number[];
  samples: number[];
  cpuMs: number;
}

const FLOOR_SERVER = join(ROOT, 'bench', 'floor-server.mjs');

/** Runs the latency comparison and returns its numbers. */
export async function runLatency(options: LatencyOptions): Promise<LatencyResult> {
  const subjects = await openSubjects(options);
  try {
    for (const subject of subjects) {
      for (let i = 0; i < options.warmUp; i++) await subject.client.echo();
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const subject of shuffled(subjects)) await runBatch(subject, options.batch);
    }
  } finally {
    await Promise.allSettled(subjects.map((s) => s.client.close()));
  }
  return resultOf(subjects, options.rounds * options.batch);
}

async function runBatch(subject: Subject, batch: number): Promise<void> {
  const cpuBefore = serverCpuMs(subject);
  for (let i = 0; i < batch; i++) {
    const started = performance.now();
    await subject.client.echo();
    subject.samples.push(performance.now() - started);
  }
  subject.cpuMs += serverCpuMs(subject) - cpuBefore;
}

function serverCpuMs(subject: Subject): number {
  return subject.serverPids.reduce((total, pid) => total + treeCpuMs(pid), 0);
}

async function openSubjects(options: LatencyOptions): Promise<Subject[]> {
  const { exai } = options;
  const daemon = await startDaemon(exai);
  const node = process.execPath;
  const floorCommand = `${JSON.stringify(node)} ${JSON.stringify(FLOOR_SERVER)}`;

  const floor = await stdioClient(node, [FLOOR_SERVER], cleanEnv());
  const shim = await stdioClient(
    exai.command,
    [...exai.args, 'shim', '--state-dir', daemon.stateDir, '--no-autostart'],
    cleanEnv(),
  );
  const direct = await webSocketClient(daemon.url, { authorization: `Bearer ${daemon.token}` });
  const floorWsServer = await startFloorWs();
  const floorWs = await webSocketClient(floorWsServer.url);
  // The shim alone, in front of a server that does nothing but answer: its
  // cost as a relay, to set beside supergateway's.
  const shimOnly = await stdioClient(
    exai.command,
    [...exai.args, 'shim', '--state-dir', makeStateDir(), '--no-autostart', '--port', new URL(floorWsServer.url).port, '--token', 'unused'],
    cleanEnv(),
  );
  const gatewayWs = await startSupergateway('ws', floorCommand);
  const peerWs = await webSocketClient(gatewayWs.url);

  const subjects: Subject[] = [
    subject('floor', 'client -> stdio -> SDK server', floor, [floor.pid!]),
    subject('exai-shim', 'client -> stdio -> exai shim -> WebSocket -> exai daemon', shim, [shim.pid!, daemon.pid]),
    subject('exai-direct', 'client -> WebSocket -> exai daemon', direct, [daemon.pid]),
    subject('floor-ws', 'client -> WebSocket -> SDK server (exai\'s transport, nothing else)', floorWs, [floorWsServer.pid]),
    subject('shim-floor-ws', 'client -> stdio -> exai shim -> WebSocket -> SDK server (no daemon)', shimOnly, [shimOnly.pid!, floorWsServer.pid]),
    subject('supergateway-ws', 'client -> WebSocket -> supergateway -> stdio -> SDK server', peerWs, [gatewayWs.pid]),
  ];
  if (options.withHttpPeer) {
    const gatewayHttp = await startSupergateway('streamableHttp', floorCommand);
    const peerHttp = await httpClient(gatewayHttp.url);
    subjects.push(
      subject('supergateway-http', 'client -> streamable HTTP -> supergateway -> stdio -> SDK server', peerHttp, [gatewayHttp.pid]),
    );
  }
  return subjects;
}

function subject(name: string, path: string, client: BenchClient, serverPids: number[]): Subject {
  return { name, path, client, serverPids, samples: [], cpuMs: 0 };
}

function resultOf(subjects: Subject[], calls: number): LatencyResult {
  const results = subjects.map((s) => ({
    name: s.name,
    path: s.path,
    ms: rounded(summarize(s.samples)),
    serverCpuMsPerCall: round(s.cpuMs / s.samples.length),
  }));
  const byName = new Map(results.map((r) => [r.name, r]));
  const exai = byName.get('exai-shim')!.ms;
  const floor = byName.get('floor')!.ms;

  const againstPeers: LatencyResult['againstPeers'] = {};
  for (const peer of results.filter((r) => r.name.startsWith('supergateway'))) {
    againstPeers[peer.name] = {
      p50Ratio: round(exai.median / peer.ms.median),
      p99Ratio: round(exai.p99 / peer.ms.p99),
    };
  }
  return {
    callsPerSubject: calls,
    subjects: results,
    addedOverFloor: { p50Ms: round(exai.median - floor.median), p99Ms: round(exai.p99 - floor.p99) },
    againstPeers,
  };
}

function rounded(summary: Summary): Summary {
  return Object.fromEntries(
    Object.entries(summary).map(([key, value]) => [key, key === 'count' ? value : round(value)]),
  ) as unknown as Summary;
}
