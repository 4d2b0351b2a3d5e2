import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, track } from './lib/processes.ts';

// Start-up is measured by bench/startup.mjs (it owns the method: `exai shim`
// spawned to its `initialize` answer, against `node -e 0`); this runs it and
// folds its result in. It needs the single executable.

/** What bench/startup.mjs wrote, or why it did not run. */
export type StartupResult =
  | { isSkipped: false; runs: number; binary: string; shimInitializeMs: Spread; nodeExitMs: Spread; ratio: number; goalRatio: number }
  | { isSkipped: true; reason: string };

interface Spread {
  median: number;
  p90: number;
  min: number;
  max: number;
}

const SCRIPT = join(ROOT, 'bench', 'startup.mjs');
const RESULT = join(ROOT, 'bench', 'results', 'startup.json');

/** Runs bench/startup.mjs against `binary` and returns its numbers, or a skip note. */
export async function runStartup(binary: string, runs: number): Promise<StartupResult> {
  if (!existsSync(binary)) {
    return { isSkipped: true, reason: `no single executable at ${binary} (run \`npm run build\` first)` };
  }

  const child = track(spawn(process.execPath, [SCRIPT, '--runs', String(runs), '--binary', binary], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) return { isSkipped: true, reason: `bench/startup.mjs exited with ${code}: ${stderr.trim().slice(0, 300)}` };

  const written = JSON.parse(readFileSync(RESULT, 'utf8')) as Omit<Extract<StartupResult, { isSkipped: false }>, 'isSkipped'>;
  const { runs: measured, binary: used, shimInitializeMs, nodeExitMs, ratio, goalRatio } = written;
  return { isSkipped: false, runs: measured, binary: used, shimInitializeMs, nodeExitMs, ratio, goalRatio };
}
