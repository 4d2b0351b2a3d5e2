import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isProcessAlive } from './daemon-record.ts';
import type { StatePaths } from './paths.ts';

/** The outcome of trying to become the one daemon of a state dir. */
export type LockResult = { isHeld: true; release(): void } | { isHeld: false; ownerPid: number };

/**
 * Takes `daemon.lock` for this process: the file holds the owner's pid and is
 * created exclusively, so of two daemons starting at once only one wins. A
 * lock whose owner is dead is stale and taken over.
 */
export function acquireDaemonLock(paths: StatePaths, pid = process.pid): LockResult {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(paths.lock, pid)) return { isHeld: true, release: () => releaseLock(paths, pid) };

    const ownerPid = readOwner(paths.lock);
    if (ownerPid !== undefined && ownerPid !== pid && isProcessAlive(ownerPid)) {
      return { isHeld: false, ownerPid };
    }
    // Stale (dead owner) or unreadable: remove it and try once more.
    rmSync(paths.lock, { force: true });
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
  try {
    writeFileSync(lockPath, `${pid}\n`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function releaseLock(paths: StatePaths, pid: number): void {
  if (readOwner(paths.lock) === pid) rmSync(paths.lock, { force: true });
}
