import type { JSONRPCMessage, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.ts';
import { LATEST_PROTOCOL_VERSION, RpcCode, SUPPORTED_PROTOCOL_VERSIONS } from '../protocol/wire.ts';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientChannel } from './stdio-channel.ts';

/** Opens a started connection to the daemon (finding or starting it); rejects when it cannot. */
export type LinkOpener = () => Promise<Transport>;

/** What the relay needs. */
export interface RelayOptions {
  client: ClientChannel;
  openLink: LinkOpener;
  log: Logger;
  version: string;
  /** How long a client request waits for the daemon before it fails. */
  connectTimeoutMs: number;
  /** Runs when the client's `initialize` arrives, before the shim connects. */
  onInitialize?: (params: Record<string, unknown>) => void;
  /** Backoff between connection attempts: first and cap. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;

interface Waiting {
  message: JSONRPCMessage;
  timer: NodeJS.Timeout | undefined;
}

interface Pending {
  link: Transport;
  resolve(result: unknown): void;
  reject(error: Error): void;
}

const isRequest = (m: JSONRPCMessage): m is JSONRPCRequest => 'method' in m && 'id' in m;
const isResponse = (m: JSONRPCMessage) => !('method' in m) && 'id' in m;

/**
 * The shim's core: one MCP client on one side, the daemon on the other.
 * It answers `initialize` itself (so the client never waits for a daemon
 * that is still starting), replays the client's `initialize` on every new
 * connection, forwards everything else both ways, and gives each call that
 * was running when the daemon went away an error instead of a hang.
 */
export class Relay {
  readonly #options: RelayOptions;
  readonly #log: Logger;
  #initParams: Record<string, unknown> | undefined;
  #link: Transport | undefined;
  #isConnecting = false;
  #isClosed = false;
  #lastError = 'not connected yet';
  readonly #waiting: Waiting[] = [];
  readonly #forwarded = new Map<RequestId, string>();
  readonly #internal = new Map<RequestId, Pending>();
  #internalSeq = 0;
  #toolsSignature: string | undefined;

  constructor(options: RelayOptions) {
    this.#options = options;
    this.#log = options.log;
  }

  /** Starts relaying the client's messages. */
  start(): void {
    this.#options.client.onmessage = (message) => this.#fromClient(message);
  }

  /** True while a handshaken connection to the daemon is up. */
  get isLinked(): boolean {
    return this.#link !== undefined;
  }

  /** Stops for good: fails what waits, closes the connection (the daemon aborts its calls). */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    for (const w of this.#waiting.splice(0)) clearTimeout(w.timer);
    await this.#link?.close();
  }

  #fromClient(message: JSONRPCMessage): void {
    if (isRequest(message) && message.method === 'initialize') return this.#initialize(message);
    if (isRequest(message) && message.method === 'ping') {
      return this.#options.client.send({ jsonrpc: '2.0', id: message.id, result: {} });
    }
    // The shim sends its own `initialized` after each handshake with the daemon.
    if ('method' in message && message.method === 'notifications/initialized') return;
    if ('method' in message && message.method === 'notifications/cancelled') return this.#cancel(message);

    if (this.#link) return this.#forward(this.#link, message);
    if (isResponse(message)) return; // an answer to a request of a connection that is gone
    this.#wait(message);
  }

  #initialize(request: JSONRPCRequest): void {
    this.#initParams = request.params ?? {};
    this.#options.onInitialize?.(this.#initParams);
    const requested = String(this.#initParams.protocolVersion ?? '');
    const protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    this.#options.client.send({
      jsonrpc: '2.0',
      id: request.id,
      result: {
        protocolVersion,
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: 'exai', version: this.#options.version },
      },
    });
    void this.#connect();
  }

  #cancel(message: JSONRPCMessage): void {
    const id = (message as { params?: { requestId?: RequestId } }).params?.requestId;
    const index = this.#waiting.findIndex((w) => isRequest(w.message) && w.message.id === id);
    if (index !== -1) {
      // Never sent: forget it; a cancelled request gets no answer.
      clearTimeout(this.#waiting[index]!.timer);
      this.#waiting.splice(index, 1);
      return;
    }
    if (id !== undefined) this.#forwarded.delete(id);
    if (this.#link) this.#forward(this.#link, message);
  }

  #forward(link: Transport, message: JSONRPCMessage): void {
    if (isRequest(message)) this.#forwarded.set(message.id, message.method);
    link.send(message).catch((error) => {
      this.#log.warn('forward failed', { error });
      if (isRequest(message)) this.#failForwarded(message.id, 'the connection closed as the call was sent');
    });
  }

  #wait(message: JSONRPCMessage): void {
    const waiting: Waiting = { message, timer: undefined };
    if (isRequest(message)) {
      waiting.timer = setTimeout(() => this.#giveUp(waiting), this.#options.connectTimeoutMs);
    }
    this.#waiting.push(waiting);
    if (this.#initParams !== undefined) void this.#connect();
  }

  #giveUp(waiting: Waiting): void {
    const index = this.#waiting.indexOf(waiting);
    if (index === -1 || !isRequest(waiting.message)) return;
    this.#waiting.splice(index, 1);
    const seconds = Math.round(this.#options.connectTimeoutMs / 1000);
    this.#options.client.send({
      jsonrpc: '2.0',
      id: waiting.message.id,
      error: {
        code: RpcCode.daemonUnavailable,
        message: `Cannot reach the exai daemon: no connection within ${seconds} s (${this.#lastError})`,
        data: { code: 'DAEMON_UNREACHABLE' },
      },
    });
  }

  async #connect(): Promise<void> {
    if (this.#isConnecting || this.#link || this.#isClosed) return;
    this.#isConnecting = true;
    try {
      for (let attempt = 0; !this.#isClosed; attempt++) {
        const link = await this.#tryLink();
        if (link) return this.#linked(link);
        await this.#backoff(attempt);
      }
    } finally {
      this.#isConnecting = false;
    }
  }

  async #tryLink(): Promise<Transport | undefined> {
    let link: Transport | undefined;
    try {
      link = await this.#options.openLink();
      link.onmessage = (message) => this.#fromDaemon(message);
      link.onclose = () => this.#unlinked(link!);
      await this.#handshake(link);
      return link;
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err);
      this.#log.info('daemon not reachable', { error: this.#lastError });
      await link?.close();
      return undefined;
    }
  }

  async #handshake(link: Transport): Promise<void> {
    await this.#request(link, 'initialize', this.#initParams ?? {});
    await link.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const tools = await this.#request(link, 'tools/list', {});
    const signature = JSON.stringify(tools);
    const hasChanged = this.#toolsSignature !== undefined && this.#toolsSignature !== signature;
    this.#toolsSignature = signature;
    if (hasChanged) this.#options.client.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
  }

  #linked(link: Transport): void {
    if (this.#isClosed) return void link.close();
    this.#link = link;
    this.#log.info('daemon linked', { waiting: this.#waiting.length });
    for (const w of this.#waiting.splice(0)) {
      clearTimeout(w.timer);
      this.#forward(link, w.message);
    }
  }

  #unlinked(link: Transport): void {
    for (const [id, pending] of this.#internal) {
      if (pending.link !== link) continue;
      this.#internal.delete(id);
      pending.reject(new Error('the connection closed during the handshake'));
    }
    if (this.#link !== link) return;

    this.#link = undefined;
    this.#lastError = 'the daemon closed the connection';
    for (const id of [...this.#forwarded.keys()]) {
      this.#failForwarded(id, 'the daemon went away while the call ran (connection lost); call again');
    }
    if (this.#isClosed) return;
    this.#log.warn('daemon connection lost');
    void this.#connect();
  }

  #failForwarded(id: RequestId, why: string): void {
    const method = this.#forwarded.get(id);
    if (method === undefined) return;
    this.#forwarded.delete(id);
    this.#options.client.send({
      jsonrpc: '2.0',
      id,
      error: { code: RpcCode.daemonUnavailable, message: `Cannot finish ${method}: ${why}`, data: { code: 'DAEMON_GONE' } },
    });
  }

  #fromDaemon(message: JSONRPCMessage): void {
    if (isResponse(message)) {
      const id = (message as { id: RequestId }).id;
      const pending = this.#internal.get(id);
      if (pending) {
        this.#internal.delete(id);
        if ('error' in message) pending.reject(new Error(`the daemon answered: ${message.error.message}`));
        else pending.resolve((message as { result: unknown }).result);
        return;
      }
      // An answer for a call the client cancelled, or already failed, is not sent twice.
      if (!this.#forwarded.delete(id)) return;
    }
    this.#options.client.send(message);
  }

  #request(link: Transport, method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = `exai-shim-${++this.#internalSeq}`;
    return new Promise((resolve, reject) => {
      // A daemon that accepts but never answers must not stall the shim.
      const timer = setTimeout(() => {
        this.#internal.delete(id);
        reject(new Error(`the daemon did not answer ${method} within ${HANDSHAKE_TIMEOUT_MS / 1000} s`));
      }, HANDSHAKE_TIMEOUT_MS);
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      this.#internal.set(id, {
        link,
        resolve: (result) => settle(() => resolve(result)),
        reject: (error) => settle(() => reject(error)),
      });
      link.send({ jsonrpc: '2.0', id, method, params }).catch((error: Error) => {
        this.#internal.delete(id);
        reject(error);
      });
    });
  }

  #backoff(attempt: number): Promise<void> {
    const base = this.#options.retryBaseMs ?? 100;
    const cap = this.#options.retryMaxMs ?? 1000;
    const ceiling = Math.min(cap, base * 2 ** attempt);
    // Full jitter: shims that lost the same daemon do not all knock at once.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    return new Promise((resolve) => setTimeout(resolve, delay));
  }
}
