import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where each file of the state dir lives. */
export interface StatePaths {
  dir: string;
  token: string;
  daemonRecord: string;
  lock: string;
  logs: string;
  daemonLog: string;
  threads: string;
}

/** The state dir when neither `--state-dir` nor `EXAI_STATE_DIR` names one. */
export function defaultStateDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'exai');
  return join(homedir(), '.exai');
}

/** The paths of every file exai keeps in `dir`. */
export function statePaths(dir: string): StatePaths {
  const logs = join(dir, 'logs');
  return {
    dir,
    token: join(dir, 'token'),
    daemonRecord: join(dir, 'daemon.json'),
    lock: join(dir, 'daemon.lock'),
    logs,
    daemonLog: join(logs, 'daemon.log'),
    threads: join(dir, 'threads'),
  };
}

/** The log file of a shim session; the name is made safe for a file name. */
export function shimLogPath(paths: StatePaths, sessionName: string): string {
  const safe = sessionName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'shim';
  return join(paths.logs, `shim-${safe}.log`);
}
