import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CommonConfig } from './config.ts';
import { ExaiError } from './errors.ts';
import { silentLogger } from './log.ts';
import { STOP_PATH } from './protocol/wire.ts';
import { selfCommand } from './self.ts';
import { linkOpener } from './shim/daemon-link.ts';
import { isProcessAlive, readDaemonRecord, type DaemonRecord } from './state/daemon-record.ts';
import { statePaths } from './state/paths.ts';
import { readToken } from './state/token.ts';
import { VERSION } from './version.ts';

/** Connects an MCP client to the daemon, starting one when `autostart` says so. */
export async function connectClient(
  config: CommonConfig,
  options: { autostart: boolean; timeoutMs: number },
): Promise<Client> {
  const paths = statePaths(config.stateDir);
  const open = linkOpener({
    paths,
    host: config.host,
    port: config.port,
    token: config.token,
    sessionName: () => `exai-cli-${process.pid}`,
    log: silentLogger,
    autostart: options.autostart
      ? { command: selfCommand(), args: ['--state-dir', config.stateDir], env: process.env }
      : undefined,
  });

  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    try {
      const transport = await open();
      const client = new Client({ name: 'exai-cli', version: VERSION });
      await client.connect(transport);
      return client;
    } catch (err) {
      if (!options.autostart || performance.now() > deadline) {
        throw new ExaiError('DAEMON_UNREACHABLE', `Cannot reach the exai daemon: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

/** Asks the daemon of a state dir to drain and exit; resolves once it has. */
export async function stopDaemon(config: CommonConfig, timeoutMs: number): Promise<DaemonRecord> {
  const paths = statePaths(config.stateDir);
  const record = readDaemonRecord(paths);
  if (!record || !isProcessAlive(record.pid)) {
    throw new ExaiError('DAEMON_UNREACHABLE', `Cannot stop the daemon: none is running for ${paths.dir}`);
  }
  const token = config.token ?? readToken(paths) ?? '';
  const host = record.host === '0.0.0.0' ? '127.0.0.1' : record.host;
  const response = await fetch(`http://${host}:${record.port}${STOP_PATH}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status !== 202) {
    throw new ExaiError('DAEMON_UNREACHABLE', `Cannot stop the daemon: it answered HTTP ${response.status}`);
  }

  const deadline = performance.now() + timeoutMs;
  while (isProcessAlive(record.pid) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return record;
}
