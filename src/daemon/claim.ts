import { mkdirSync } from 'node:fs';
import type { DaemonConfig } from '../config.ts';
import { ExaiError } from '../errors.ts';
import { acquireDaemonLock } from '../state/daemon-lock.ts';
import { readDaemonRecord } from '../state/daemon-record.ts';
import { statePaths, type StatePaths } from '../state/paths.ts';
import { isLoopback } from './door.ts';

/** A state dir this process now owns as its one daemon. */
export interface Claim {
  paths: StatePaths;
  release(): void;
}

/**
 * Checks the settings that need no server and takes the state dir's lock.
 * It imports little on purpose: of several daemons started at once, the
 * losers learn it here and exit before loading the rest of the daemon.
 */
export function claimStateDir(config: DaemonConfig): Claim {
  if (!isLoopback(config.host) && config.token === undefined) {
    throw new ExaiError('CONFIG_INVALID', `Cannot listen on ${config.host}: a host other than loopback needs a token set with --token or EXAI_WS_TOKEN`);
  }

  const paths = statePaths(config.stateDir);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const lock = acquireDaemonLock(paths);
  if (!lock.isHeld) {
    const record = readDaemonRecord(paths);
    const where = record ? ` on port ${record.port}` : '';
    throw new ExaiError('ALREADY_RUNNING', `Cannot start the daemon: exai daemon pid ${lock.ownerPid} already serves ${paths.dir}${where}`, {
      facts: { pid: lock.ownerPid, port: record?.port },
    });
  }
  return { paths, release: lock.release };
}
