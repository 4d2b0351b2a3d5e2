import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Readable, Writable } from 'node:stream';
import { parseFrame } from '../protocol/frame.ts';

/** A message channel to one MCP client: how the relay sees both stdio and tests. */
export interface ClientChannel {
  send(message: JSONRPCMessage): void;
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
}

/** Newline-delimited JSON-RPC over a pair of streams (the shim's stdin and stdout). */
export class StdioChannel implements ClientChannel {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;

  readonly #input: Readable;
  readonly #output: Writable;
  #buffered = '';
  #isClosed = false;

  constructor(input: Readable, output: Writable) {
    this.#input = input;
    this.#output = output;
  }

  /** Starts reading; `onclose` runs once when the input ends. */
  start(): void {
    this.#input.setEncoding('utf8');
    this.#input.on('data', (chunk: string) => this.#receive(chunk));
    this.#input.on('end', () => this.#closed());
    this.#input.on('close', () => this.#closed());
    this.#input.on('error', () => this.#closed());
  }

  send(message: JSONRPCMessage): void {
    this.#output.write(JSON.stringify(message) + '\n');
  }

  #receive(chunk: string): void {
    this.#buffered += chunk;
    let newline = this.#buffered.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffered.slice(0, newline).replace(/\r$/, '');
      this.#buffered = this.#buffered.slice(newline + 1);
      if (line.trim() !== '') this.#line(line);
      newline = this.#buffered.indexOf('\n');
    }
  }

  #line(line: string): void {
    const parsed = parseFrame(line);
    if ('message' in parsed) {
      this.onmessage?.(parsed.message);
      return;
    }
    const { id, code, message } = parsed.error;
    this.#output.write(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }) + '\n');
  }

  #closed(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.onclose?.();
  }
}
