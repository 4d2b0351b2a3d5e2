import type { DaemonConfig } from '../config.ts';
import { claimStateDir } from '../daemon/claim.ts';
import { createLogger, fileSink } from '../log.ts';
import { statePaths } from '../state/paths.ts';
import { VERSION } from '../version.ts';

/** `exai daemon`: runs in the foreground until stopped; logs go to the file, one line to stderr. */
export async function runDaemonCommand(config: DaemonConfig): Promise<number> {
  const paths = statePaths(config.stateDir);
  const file = fileSink(paths.daemonLog);
  const log = createLogger(file.sink, config.logLevel, 'daemon', { pid: process.pid });

  let handle;
  try {
    const claim = claimStateDir(config);
    const { startDaemon } = await import('../daemon/daemon.ts');
    handle = await startDaemon(config, { log }, claim);
  } catch (err) {
    log.error('daemon did not start', { error: err });
    file.close();
    throw err;
  }

  process.stderr.write(
    `exai ${VERSION} daemon on ws://${handle.host}:${handle.port} (pid ${process.pid}, ` +
      `max-inflight ${config.maxInflight}, logs ${paths.daemonLog})\n`,
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void handle.stop(signal));
  }
  await handle.stopped;
  file.close();
  return 0;
}
