import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import WebSocket from 'ws';
import { echoReply, startScriptedEndpoint, type ScriptedEndpoint } from '../../src/demo/scripted-endpoint.ts';
import {
  cleanUp,
  makeStateDir,
  runExai,
  startDaemon,
  type DaemonProcess,
} from '../support/exai-processes.ts';

// The daemon's door, seen by a raw `ws` client as any MCP client with a
// WebSocket transport would see it: auth at the upgrade, frames, limits.

const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
const PACKAGE_VERSION = (JSON.parse(PACKAGE_JSON) as { version: string }).version;
const VERSION_LINE = new RegExp(`^exai ${PACKAGE_VERSION.replaceAll('.', '\\.')} \\(node `);
const WAIT_MS = 15_000;

const endpoints: ScriptedEndpoint[] = [];
const sockets: WebSocket[] = [];
const netServers: Server[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(netServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await cleanUp();
});
after(cleanUp);

function tokenOf(daemon: DaemonProcess): string {
  return readFileSync(join(daemon.stateDir, 'token'), 'utf8').trim();
}

type Headers = Record<string, string>;
type Frame = Record<string, unknown>;

function recordOf(stateDir: string): Frame {
  return JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8')) as Frame;
}

function socketTo(daemon: DaemonProcess, headers: Headers): WebSocket {
  const url = `ws://127.0.0.1:${daemon.port}`;
  const ws = new WebSocket(url, 'mcp', { headers, perMessageDeflate: false });
  sockets.push(ws);
  return ws;
}

function bearer(token: string): Headers {
  return { authorization: `Bearer ${token}` };
}

/** The daemon's own token, and an `Origin` header when given. */
function credentials(daemon: DaemonProcess, origin?: string): Headers {
  return { ...bearer(tokenOf(daemon)), ...(origin === undefined ? {} : { origin }) };
}

/** Resolves with the HTTP status of a refused upgrade; rejects when the socket opens instead. */
function refusalOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    const frames: string[] = [];
    ws.on('message', (data) => frames.push(String(data)));
    ws.once('open', () => reject(new Error('the connection was accepted')));
    ws.once('error', (err) => reject(err));
    ws.once('unexpected-response', (_req, res) => {
      assert.deepEqual(frames, [], 'a frame arrived before the refusal');
      ws.terminate();
      resolve(res.statusCode!);
    });
  });
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`refused with HTTP ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

/** A raw connection that keeps every JSON frame it receives. */
class RawConnection {
  readonly ws: WebSocket;
  readonly received: Frame[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as Frame);
      for (const listener of this.#listeners) listener();
    });
  }

  static async open(daemon: DaemonProcess, headers = credentials(daemon)): Promise<RawConnection> {
    const ws = socketTo(daemon, headers);
    const connection = new RawConnection(ws);
    await opened(ws);
    assert.equal(ws.protocol, 'mcp');
    return connection;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits for the first received frame that `match` accepts. */
  next(match: (frame: Frame) => boolean, what: string): Promise<Frame> {
    return this.all(1, match, what).then((frames) => frames[0]!);
  }

  /** Waits until `count` received frames match. */
  all(count: number, match: (frame: Frame) => boolean, what: string): Promise<Frame[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.filter(match);
        if (found.length < count) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.received.filter(match).length;
        reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what} (${seen} of ${count})`));
      }, WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Sends `initialize` and `notifications/initialized`; resolves with the result. */
  async initialize(id: string | number = 'init'): Promise<Frame> {
    this.send({
      jsonrpc: '2.0',
      id,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'raw-ws', version: '1.0.0' },
      },
    });
    const response = await this.next((f) => f.id === id, 'the initialize response');
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return response;
  }
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('who gets in', () => {
  test('a connection without a token is refused with HTTP 401 before any frame', async () => {
    const daemon = await startDaemon();

    assert.equal(await refusalOf(socketTo(daemon, {})), 401);
  });

  test('a connection with a wrong token is refused with HTTP 401', async () => {
    const daemon = await startDaemon();

    assert.equal(await refusalOf(socketTo(daemon, bearer('not-the-token'))), 401);
    assert.equal(await refusalOf(socketTo(daemon, bearer(tokenOf(daemon) + 'x'))), 401);
  });

  test('a connection with the right token but an Origin header is refused with HTTP 403', async () => {
    const daemon = await startDaemon();

    const ws = socketTo(daemon, credentials(daemon, 'http://x.test'));

    assert.equal(await refusalOf(ws), 403);
  });

  test('an origin allowed by --allow-origin connects with the right token', async () => {
    const daemon = await startDaemon({ args: ['--allow-origin', 'http://x.test'] });

    const allowed = await RawConnection.open(daemon, credentials(daemon, 'http://x.test'));
    const init = await allowed.initialize();

    assert.equal((init.result as { serverInfo: { name: string } }).serverInfo.name, 'exai');
    assert.equal(await refusalOf(socketTo(daemon, credentials(daemon, 'http://other.test'))), 403);
    assert.equal(await refusalOf(socketTo(daemon, { origin: 'http://x.test' })), 401);
  });

  test('the token file is private and daemon.json describes the daemon', async () => {
    const daemon = await startDaemon();

    const tokenPath = join(daemon.stateDir, 'token');
    assert.equal(statSync(tokenPath).mode & 0o777, 0o600);
    assert.ok(tokenOf(daemon).length >= 32, 'the token is short');
    const record = recordOf(daemon.stateDir);
    assert.equal(record.pid, daemon.pid);
    assert.equal(record.host, '127.0.0.1');
    assert.equal(record.port, daemon.port);
    assert.equal(record.version, PACKAGE_VERSION);
    assert.equal(typeof record.started_at, 'string');
    const startedAt = Date.parse(record.started_at as string);
    const isRecent = Math.abs(Date.now() - startedAt) < 5 * 60_000;
    assert.ok(isRecent, `started_at ${String(record.started_at)} is not now`);
  });
});

describe('frames', () => {
  test('invalid JSON gets a -32700 parse error and the connection then completes initialize', async () => {
    const daemon = await startDaemon();
    const connection = await RawConnection.open(daemon);

    connection.send('{"jsonrpc": "2.0", "id": 1, "method": ');
    const parseError = await connection.next((f) => f.error !== undefined, 'the parse error');
    const init = await connection.initialize(2);

    assert.equal((parseError.error as { code: number }).code, -32700);
    assert.equal(parseError.id, null);
    type InitResult = { protocolVersion: string; serverInfo: { name: string; version: string } };
    const result = init.result as InitResult;
    assert.equal(result.serverInfo.name, 'exai');
    assert.equal(result.serverInfo.version, PACKAGE_VERSION);
    assert.equal(result.protocolVersion, LATEST_PROTOCOL_VERSION);
  });

  test('a frame over 32 MiB closes the connection with code 1009 and the daemon serves on', async () => {
    const daemon = await startDaemon();
    const connection = await RawConnection.open(daemon);
    const closed = closeOf(connection.ws);
    // The daemon may cut the socket while the frame is still being written.
    connection.ws.on('error', () => {});

    connection.send('x'.repeat(33 * 1024 * 1024));

    assert.equal(await closed, 1009);
    const next = await RawConnection.open(daemon);
    const init = await next.initialize();
    assert.equal((init.result as { serverInfo: { name: string } }).serverInfo.name, 'exai');
  });

  test('twenty version calls sent back to back on one connection each get the answer with their id', async () => {
    const daemon = await startDaemon();
    const connection = await RawConnection.open(daemon);
    await connection.initialize();

    const ids = Array.from({ length: 20 }, (_, i) => `call-${i}`);
    for (const id of ids) {
      const params = { name: 'version', arguments: {} };
      connection.send({ jsonrpc: '2.0', id, method: 'tools/call', params });
    }
    const responses = await connection.all(20, (f) => ids.includes(f.id as string), 'twenty responses');

    assert.deepEqual(responses.map((r) => r.id).sort(), [...ids].sort());
    for (const response of responses) {
      const result = response.result as { content: { text: string }[] };
      assert.match(result.content[0]!.text, VERSION_LINE);
    }
  });

  test('twenty chat calls on one connection are at the provider at the same time and each gets its answer', async () => {
    const endpoint = await startScriptedEndpoint({
      reply: async (request) => {
        // Each request waits for all twenty: they finish only if all are in flight at once.
        await endpoint.waitForRequests(20, WAIT_MS);
        return echoReply(request);
      },
    });
    endpoints.push(endpoint);
    const daemon = await startDaemon({
      args: ['--max-inflight', '20', '--provider-max-inflight', 'kimi=20'],
      env: { KIMI_API_KEY: 'test-kimi-key', KIMI_API_URL: endpoint.baseUrl },
    });
    const connection = await RawConnection.open(daemon);
    await connection.initialize();

    for (let i = 0; i < 20; i++) {
      const params = { name: 'chat', arguments: { prompt: `question ${i}` } };
      connection.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params });
    }
    const responses = await connection.all(20, (f) => typeof f.id === 'number', 'twenty chat answers');

    for (const response of responses) {
      const result = response.result as { isError?: boolean; content: { text: string }[] };
      assert.equal(result.isError, undefined, result.content[0]?.text);
      assert.equal(result.content[0]!.text, `Answer to: question ${response.id as number}`);
    }
    assert.equal(endpoint.requests.length, 20);
  });
});

describe('starting up', () => {
  test('a daemon refuses a non-loopback host without a token and says why', async () => {
    const stateDir = makeStateDir();

    const run = await runExai(['daemon', '--host', '0.0.0.0', '--port', '0', '--state-dir', stateDir]);

    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /0\.0\.0\.0/);
    assert.match(run.stderr, /--token/);
    assert.equal(existsSync(join(stateDir, 'daemon.json')), false);
  });

  test('a daemon on a non-loopback host starts with a token, serves it and stops', async () => {
    const token = 'a-token-given-by-flag';
    const daemon = await startDaemon({ args: ['--host', '0.0.0.0', '--token', token] });

    assert.equal(recordOf(daemon.stateDir).host, '0.0.0.0');
    const connection = await RawConnection.open(daemon, bearer(token));
    await connection.initialize();
    assert.equal(await refusalOf(socketTo(daemon, bearer('wrong'))), 401);

    await daemon.stop();
    assert.equal(await daemon.exited, 0);
    assert.equal(existsSync(join(daemon.stateDir, 'daemon.json')), false);
  });

  test('a second daemon on the same state dir exits saying one already runs, and the first serves on', async () => {
    const first = await startDaemon();

    const second = await runExai(['daemon', '--port', '0', '--state-dir', first.stateDir]);

    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /already/);
    assert.match(second.stderr, new RegExp(`pid ${first.pid}`));
    assert.equal(recordOf(first.stateDir).pid, first.pid);
    const connection = await RawConnection.open(first);
    await connection.initialize();
    assert.equal(first.child.exitCode, null);
  });

  test('a port taken by another program gives an error naming the port and --port', async () => {
    const blocker = createServer();
    netServers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const stateDir = makeStateDir();

    const run = await runExai(['daemon', '--port', String(port), '--state-dir', stateDir]);

    assert.notEqual(run.code, 0);
    assert.match(run.stderr, new RegExp(`:${port}\\b`));
    assert.match(run.stderr, /--port/);
    assert.equal(existsSync(join(stateDir, 'daemon.json')), false);
    const lockPath = join(stateDir, 'daemon.lock');
    assert.equal(existsSync(lockPath), false, 'the failed daemon left its lock behind');
  });
});
