import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import WebSocket from 'ws';
import { parseFrame, type BadFrame } from './frame.ts';

/** Options for {@link WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /** Answer frames that are not JSON-RPC with an error instead of only reporting them (server side). */
  answerBadFrames?: boolean;
  /**
   * Deliver each message on its own turn of the event loop (default true).
   * The SDK's client handles a response before a notification that came with
   * it in the same batch, and would then drop a progress notification for a
   * request it thinks is done. The shim keeps the pacing, as its client is
   * an SDK client too, behind a pipe. The daemon's sessions handle messages in
   * order as they come and save the extra turn per message.
   */
  isReadBySdkClient?: boolean;
}

/** An MCP transport over one `ws` socket; used by the daemon, the shim and `exai call`. */
export class WebSocketTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #ws: WebSocket;
  readonly #answerBadFrames: boolean;
  readonly #isReadBySdkClient: boolean;
  #isClosed = false;

  constructor(ws: WebSocket, options: WebSocketTransportOptions = {}) {
    this.#ws = ws;
    this.#answerBadFrames = options.answerBadFrames ?? false;
    this.#isReadBySdkClient = options.isReadBySdkClient ?? true;
  }

  /** True once the socket has closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  async start(): Promise<void> {
    this.#ws.on('message', (data, isBinary) => this.#receive(data, isBinary));
    this.#ws.on('error', (error) => this.onerror?.(error));
    this.#ws.on('close', () => this.#closed());
    if (this.#ws.readyState === WebSocket.CLOSED) this.#closed();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error('Cannot send: the WebSocket is not open'));
    }
    return new Promise((resolve, reject) => {
      this.#ws.send(JSON.stringify(message), (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(1000);
    }
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): void {
    this.#ws.terminate();
  }

  #closed(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.onclose?.();
  }

  #receive(data: WebSocket.RawData, isBinary: boolean): void {
    const parsed = parseFrame(data, isBinary);
    if ('error' in parsed) {
      this.onerror?.(new Error(`Cannot read a frame: ${parsed.error.message}`));
      if (this.#answerBadFrames) this.#sendRaw(parsed.error);
      return;
    }

    if (!this.#isReadBySdkClient) return this.onmessage?.(parsed.message);
    setImmediate(() => this.onmessage?.(parsed.message));
  }

  #sendRaw(error: BadFrame): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const { id, code, message } = error;
    this.#ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
  }
}
