import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { StatePaths } from './paths.ts';

/** What `daemon.json` says about the running daemon. */
export interface DaemonRecord {
  pid: number;
  host: string;
  port: number;
  started_at: string;
  version: string;
}

/** Writes `daemon.json` atomically: a reader sees the old file or the new one, never half. */
export function writeDaemonRecord(paths: StatePaths, record: DaemonRecord): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const temp = `${paths.daemonRecord}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  renameSync(temp, paths.daemonRecord);
}

/** Reads `daemon.json`; undefined when it is missing or not a record. */
export function readDaemonRecord(paths: StatePaths): DaemonRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(paths.daemonRecord, 'utf8'));
  } catch {
    return undefined;
  }
  return isDaemonRecord(value) ? value : undefined;
}

/** Removes `daemon.json` if it still describes the daemon with `pid`. */
export function removeDaemonRecord(paths: StatePaths, pid: number): void {
  if (readDaemonRecord(paths)?.pid !== pid) return;
  rmSync(paths.daemonRecord, { force: true });
}

/** True when a process with `pid` exists (signal 0 checks without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isDaemonRecord(value: unknown): value is DaemonRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return Number.isInteger(r.pid) && typeof r.host === 'string' && Number.isInteger(r.port);
}
