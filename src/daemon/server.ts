import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ExaiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CLIENT_PID_HEADER, MAX_FRAME_BYTES, SESSION_NAME_HEADER, STOP_PATH, SUBPROTOCOL } from '../protocol/wire.ts';
import { checkRequest, type Refusal } from './door.ts';
import type { Dispatcher } from './dispatcher.ts';
import { Session } from './session.ts';

/** What the WebSocket server needs. */
export interface WireServerOptions {
  host: string;
  token: string;
  allowOrigins: readonly string[];
  dispatcher: Dispatcher;
  log: Logger;
  /** Connections served at once; more are refused with HTTP 503. */
  maxConnections: number;
  /** Runs whenever a session opens or closes, with the number open. */
  onSessionCount?(count: number): void;
  /** Runs when an authenticated client asks the daemon to stop. */
  onStopRequest(): void;
  /** How often to ping each connection; a peer that misses a ping is dropped. */
  keepaliveMs?: number;
}

/** The daemon's door and rooms: HTTP control, WebSocket upgrade, one Session per connection. */
export class WireServer {
  readonly #options: WireServerOptions;
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, Session>();
  readonly #alive = new WeakSet<WebSocket>();
  #keepalive: NodeJS.Timeout | undefined;
  #seq = 0;

  constructor(options: WireServerOptions) {
    this.#options = options;
    this.#http = createServer((req, res) => this.#control(req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** The sessions connected now. */
  get sessions(): readonly Session[] {
    return [...this.#sessions.values()];
  }

  /** Listens on `port` (0: any free port); resolves with the port actually bound. */
  listen(port: number): Promise<number> {
    const { host } = this.#options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(listenError(err, host, port));
      this.#http.once('error', onError);
      this.#http.listen(port, host, () => {
        this.#http.off('error', onError);
        const address = this.#http.address();
        this.#startKeepalive();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Stops taking connections and closes the open ones. */
  async close(): Promise<void> {
    clearInterval(this.#keepalive);
    this.#http.close();
    await Promise.allSettled(this.sessions.map((s) => s.close()));
    for (const ws of this.#wss.clients) ws.terminate();
    this.#http.closeAllConnections();
  }

  #control(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'POST' && req.url === STOP_PATH) {
      const refusal = checkRequest(req, this.#options.token, this.#options.allowOrigins);
      if (refusal) return void res.writeHead(refusal.status).end(refusal.reason + '\n');
      res.writeHead(202, { 'content-type': 'text/plain' }).end('stopping\n');
      this.#options.onStopRequest();
      return;
    }
    res.writeHead(426, { 'content-type': 'text/plain' }).end('exai daemon: connect with a WebSocket (subprotocol mcp)\n');
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refusal = checkRequest(req, this.#options.token, this.#options.allowOrigins) ?? this.#checkRoom();
    if (refusal) {
      this.#options.log.warn('connection refused', { status: refusal.status, reason: refusal.reason });
      socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status]}\r\n` +
        `Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${refusal.reason.length + 1}\r\n\r\n${refusal.reason}\n`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, req));
  }

  #checkRoom(): Refusal | undefined {
    if (this.#wss.clients.size < this.#options.maxConnections) return undefined;
    return { status: 503, reason: `too many connections (limit ${this.#options.maxConnections})` };
  }

  #connected(ws: WebSocket, req: IncomingMessage): void {
    const intro = {
      id: String(++this.#seq),
      name: headerOf(req, SESSION_NAME_HEADER),
      clientPid: headerOf(req, CLIENT_PID_HEADER),
    };
    const session = new Session(ws, intro, this.#options.dispatcher, this.#options.log.child('session'));
    this.#sessions.set(session.id, session);
    this.#options.onSessionCount?.(this.#sessions.size);
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    this.#options.log.info('session opened', { sessionId: session.id, session: session.name });

    session
      .start(() => {
        this.#sessions.delete(session.id);
        this.#options.onSessionCount?.(this.#sessions.size);
        this.#options.log.info('session closed', { sessionId: session.id, session: session.name });
      })
      .catch((error) => this.#options.log.error('session failed to start', { sessionId: session.id, error }));
  }

  #startKeepalive(): void {
    const everyMs = this.#options.keepaliveMs ?? 30_000;
    this.#keepalive = setInterval(() => {
      for (const ws of this.#wss.clients) {
        // A peer that did not answer the last ping is gone (a sleeping laptop, a killed process).
        if (!this.#alive.has(ws)) {
          ws.terminate();
          continue;
        }
        this.#alive.delete(ws);
        ws.ping();
      }
    }, everyMs);
    this.#keepalive.unref();
  }
}

const STATUS_TEXT: Record<Refusal['status'], string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  503: 'Service Unavailable',
};

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text.trim() === '' ? undefined : text.trim().slice(0, 120);
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE') {
    return new ExaiError(
      'PORT_IN_USE',
      `Cannot listen on ${host}:${port}: the port is taken by another program (choose another with --port or EXAI_WS_PORT, or --port 0 for any free port)`,
      { cause: err, facts: { host, port } },
    );
  }
  return err;
}
