import type { Logger } from '../log.ts';
import type { WebSocketTransport } from '../protocol/ws-transport.ts';
import type { StatePaths } from '../state/paths.ts';

/** Where and how to reach the daemon. */
export interface LinkTarget {
  paths: StatePaths;
  host: string;
  /** A port given by flag or environment; otherwise (or 0) `daemon.json` says. */
  port: number | undefined;
  /** A token given by flag or environment; otherwise the state dir's. */
  token: string | undefined;
  /** The session name to announce, once known. */
  sessionName(): string | undefined;
  log: Logger;
  /** Starts a daemon when none answers; undefined: never start one. */
  autostart?: Autostart;
}

/** How to start a daemon in the background. */
export interface Autostart {
  /** The command that runs exai (binary, or node and the entry script). */
  command: string[];
  /** The daemon's flags: the state dir, and the host and port when given. */
  args: string[];
  env: NodeJS.ProcessEnv;
}

// A just-started daemon needs a moment; do not start another one meanwhile.
const RESPAWN_AFTER_MS = 5000;

/** Makes the function the relay calls to open each connection to the daemon. */
export function linkOpener(target: LinkTarget): () => Promise<WebSocketTransport> {
  let lastSpawnAt = -Infinity;
  return async () => {
    // Loaded at the first connection, not at start-up: it brings ws (with
    // http, https and tls), crypto and child_process along, and the shim
    // answers `initialize` before it connects.
    const { connect, startDaemon, NoDaemonError } = await import('./daemon-connect.ts');
    try {
      return await connect(target);
    } catch (err) {
      if (!(err instanceof NoDaemonError) || !target.autostart) throw err;
      if (performance.now() - lastSpawnAt > RESPAWN_AFTER_MS) {
        lastSpawnAt = performance.now();
        startDaemon(target.autostart, target.log);
      }
      throw err;
    }
  };
}
