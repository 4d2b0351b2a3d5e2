import { linkSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isProcessAlive } from './daemon-record.ts';
import type { StatePaths } from './paths.ts';

/** The outcome of trying to become the one daemon of a state dir. */
export type LockResult = { isHeld: true; release(): void } | { isHeld: false; ownerPid: number };

// A recovery guard older than this was left by a process that died inside
// the few microseconds it is held.
const GUARD_STALE_MS = 10_000;

/**
 * Takes `daemon.lock` for this process. The file holds the owner's pid and
 * appears atomically, complete (written aside, then hard-linked into place,
 * which fails when it exists), so of daemons starting at once one wins and
 * no reader ever sees it empty. A lock whose owner is dead is stale; it is
 * removed under a guard, so two daemons that both find it stale cannot
 * remove each other's fresh lock.
 */
export function acquireDaemonLock(paths: StatePaths, pid = process.pid): LockResult {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

  for (let attempt = 0; attempt < 20; attempt++) {
    if (tryCreate(paths.lock, pid)) return { isHeld: true, release: () => releaseLock(paths, pid) };

    const ownerPid = readOwner(paths.lock);
    if (ownerPid !== undefined && ownerPid !== pid && isProcessAlive(ownerPid)) {
      return { isHeld: false, ownerPid };
    }
    if (ownerPid === undefined && !existsNow(paths.lock)) continue;
    removeIfStill(paths.lock, ownerPid);
  }
  return { isHeld: false, ownerPid: readOwner(paths.lock) ?? -1 };
}

/** The pid written in the lock, if it is readable. */
export function readOwner(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(lockPath: string, pid: number): boolean {
  const aside = `${lockPath}.${pid}.${process.hrtime.bigint()}`;
  writeFileSync(aside, `${pid}\n`, { mode: 0o600 });
  try {
    linkSync(aside, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(aside, { force: true });
  }
}

function removeIfStill(lockPath: string, stalePid: number | undefined): void {
  const guard = `${lockPath}.recover`;
  if (!takeGuard(guard)) {
    pause(20);
    return;
  }
  try {
    // Someone may have recovered it and taken it anew since we looked.
    if (readOwner(lockPath) === stalePid) rmSync(lockPath, { force: true });
  } finally {
    rmdirSync(guard);
  }
}

function takeGuard(guard: string): boolean {
  try {
    mkdirSync(guard);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    if (Date.now() - statSync(guard).mtimeMs > GUARD_STALE_MS) rmdirSync(guard);
  } catch {
    // Gone already: the next attempt takes it.
  }
  return false;
}

function existsNow(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

// The lock is taken once at start-up, synchronously; a short blocking pause
// while another process recovers a stale lock is simpler than going async.
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function releaseLock(paths: StatePaths, pid: number): void {
  if (readOwner(paths.lock) === pid) rmSync(paths.lock, { force: true });
}
