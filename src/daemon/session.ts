import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  RootsListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { fileURLToPath } from 'node:url';
import type WebSocket from 'ws';
import type { Logger } from '../log.ts';
import { WebSocketTransport } from '../protocol/ws-transport.ts';
import { VERSION } from '../version.ts';
import type { Dispatcher } from './dispatcher.ts';

// Each SDK Server makes its own Ajv (~19 KB of heap) unless it is given one,
// which was most of an idle session's memory: the sessions share one.
const sharedValidator = new AjvJsonSchemaValidator();

// A client that offers roots but never lists them must not stall a call.
const ROOTS_TIMEOUT_MS = 10_000;

function pathOf(uri: string): string[] {
  if (!uri.startsWith('file:')) return [];
  try {
    return [fileURLToPath(uri)];
  } catch {
    return [];
  }
}

/** How the connection introduced itself on the upgrade. */
export interface SessionIntro {
  id: string;
  /** The name the shim was given (`--name`), if any. */
  name: string | undefined;
  /** The pid of the shim, for default names. */
  clientPid: string | undefined;
}

/** One MCP session: one WebSocket connection, one SDK server, many calls in flight. */
export class Session {
  readonly id: string;
  readonly connectedAt = performance.now();
  readonly #intro: SessionIntro;
  readonly #server: Server;
  readonly #transport: WebSocketTransport;
  readonly #log: Logger;
  #name: string;
  #roots: Promise<string[]> | undefined;

  constructor(ws: WebSocket, intro: SessionIntro, dispatcher: Dispatcher, log: Logger) {
    this.id = intro.id;
    this.#intro = intro;
    this.#name = intro.name ?? `session-${intro.id}`;
    this.#log = log;
    this.#transport = new WebSocketTransport(ws, { answerBadFrames: true, isReadBySdkClient: false });
    this.#server = new Server(
      { name: 'exai', version: VERSION },
      { capabilities: { tools: { listChanged: true } }, jsonSchemaValidator: sharedValidator },
    );
    this.#server.oninitialized = () => this.#named();
    this.#transport.onerror = (error) => this.#log.warn('bad frame', { session: this.#name, error });
    this.#handle(dispatcher);
  }

  /** The session's name: `--name`, else the client's name and the shim's pid. */
  get name(): string {
    return this.#name;
  }

  /** Starts serving; `onClose` runs once when the connection ends. */
  async start(onClose: () => void): Promise<void> {
    this.#server.onclose = onClose;
    await this.#server.connect(this.#transport);
  }

  /** Closes the connection; the SDK aborts the session's calls still in flight. */
  async close(): Promise<void> {
    await this.#server.close();
  }

  #handle(dispatcher: Dispatcher): void {
    this.#server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: dispatcher.listTools() }));
    this.#server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      dispatcher.call(request.params, {
        sessionId: this.id,
        sessionName: this.#name,
        signal: extra.signal,
        progressToken: request.params._meta?.progressToken,
        notify: (notification) => extra.sendNotification(notification),
        roots: () => this.#clientRoots(),
      }),
    );
    this.#server.setNotificationHandler(RootsListChangedNotificationSchema, () => {
      this.#roots = undefined;
    });
  }

  /** The client's MCP roots as directories, asked once and again after it says they changed. */
  #clientRoots(): Promise<string[]> {
    if (!this.#server.getClientCapabilities()?.roots) return Promise.resolve([]);
    this.#roots ??= this.#server
      .listRoots(undefined, { timeout: ROOTS_TIMEOUT_MS })
      .then((result) => result.roots.flatMap((root) => pathOf(root.uri)))
      .catch((error) => {
        this.#log.warn('roots not listed', { session: this.#name, error });
        this.#roots = undefined;
        return [];
      });
    return this.#roots;
  }

  #named(): void {
    if (this.#intro.name !== undefined) return;
    const client = this.#server.getClientVersion()?.name ?? 'client';
    this.#name = `${client}-${this.#intro.clientPid ?? this.id}`;
    this.#log.info('session named', { session: this.#name, sessionId: this.id });
  }
}
