import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import type { Logger } from '../log.ts';
import { CLIENT_PID_HEADER, MAX_FRAME_BYTES, SESSION_NAME_HEADER, SUBPROTOCOL } from '../protocol/wire.ts';
import { WebSocketTransport } from '../protocol/ws-transport.ts';
import { isProcessAlive, readDaemonRecord } from '../state/daemon-record.ts';
import { readOrCreateToken } from '../state/token.ts';
import type { Autostart, LinkTarget } from './daemon-link.ts';

/** A connection attempt failed in a way worth starting a daemon for. */
export class NoDaemonError extends Error {}

/** Opens and starts one connection to the daemon that `target` names or `daemon.json` points at. */
export async function connect(target: LinkTarget): Promise<WebSocketTransport> {
  const url = locate(target);
  const token = target.token ?? readOrCreateToken(target.paths);
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    [CLIENT_PID_HEADER]: String(process.pid),
  };
  const name = target.sessionName();
  if (name !== undefined) headers[SESSION_NAME_HEADER] = name;

  const ws = new WebSocket(url, SUBPROTOCOL, { headers, handshakeTimeout: 5000, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  await opened(ws, url);
  const transport = new WebSocketTransport(ws);
  await transport.start();
  return transport;
}

function locate(target: LinkTarget): string {
  if (target.port !== undefined && target.port !== 0) return wsUrl(target.host, target.port);

  const record = readDaemonRecord(target.paths);
  if (!record || !isProcessAlive(record.pid)) {
    throw new NoDaemonError(`no daemon is running for ${target.paths.dir}`);
  }
  return wsUrl(record.host, record.port);
}

function wsUrl(host: string, port: number): string {
  // A daemon listening on every interface is reached through loopback.
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `ws://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

function opened(ws: WebSocket, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      const hint = res.statusCode === 401 ? ': the token differs from the daemon\'s (check EXAI_WS_TOKEN and the state dir)' : '';
      reject(new Error(`the daemon at ${url} refused the connection with HTTP ${res.statusCode}${hint}`));
    });
    ws.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') reject(new NoDaemonError(`nothing listens at ${url}`));
      else reject(new Error(`cannot connect to ${url}: ${err.message}`));
    });
  });
}

/** Starts `exai daemon` detached, with no inherited stdio, and does not wait for it. */
export function startDaemon(autostart: Autostart, log: Logger): void {
  const [file, ...rest] = autostart.command;
  log.info('starting a daemon', { command: [file, ...rest, 'daemon', ...autostart.args] });
  // Detached with no inherited stdio: the daemon outlives this shim and
  // never holds the client's pipes.
  const child = spawn(file!, [...rest, 'daemon', ...autostart.args], {
    detached: true,
    stdio: 'ignore',
    env: autostart.env,
    windowsHide: true,
  });
  child.on('error', (error) => log.error('daemon did not start', { error }));
  child.unref();
}
