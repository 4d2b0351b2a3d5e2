import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import WebSocket from 'ws';

/** One MCP client of the SDK, connected to one subject. */
export interface BenchClient {
  client: Client;
  /** The pid of the process the client started (stdio), if any. */
  pid: number | undefined;
  /** Calls the trivial tool once and checks the answer. */
  echo(args?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** Connects the SDK's client over stdio to a process it starts. */
export async function stdioClient(command: string, args: string[], env: Record<string, string>): Promise<BenchClient> {
  const transport = new StdioClientTransport({ command, args, env, stderr: 'ignore' });
  return connectClient(transport, () => transport.pid ?? undefined);
}

/** Connects the SDK's own WebSocket client transport, with `headers` on the upgrade. */
export async function webSocketClient(url: string, headers: Record<string, string> = {}): Promise<BenchClient> {
  installWebSocket();
  upgradeHeaders.set(url, headers);
  return connectClient(new WebSocketClientTransport(new URL(url)), () => undefined);
}

/** Connects the SDK's streamable HTTP client transport. */
export async function httpClient(url: string): Promise<BenchClient> {
  return connectClient(new StreamableHTTPClientTransport(new URL(url)), () => undefined);
}

const ECHO_TEXT = 'x';

async function connectClient(transport: Transport, pidOf: () => number | undefined): Promise<BenchClient> {
  const client = new Client({ name: 'exai-bench', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    pid: pidOf(),
    echo: async (args = {}) => {
      const result = (await client.callTool({ name: 'bench_echo', arguments: { text: ECHO_TEXT, ...args } })) as CallToolResult;
      const block = result.content[0];
      if (result.isError || block?.type !== 'text' || block.text !== ECHO_TEXT) {
        throw new Error(`Cannot benchmark: bench_echo answered ${JSON.stringify(result).slice(0, 200)}`);
      }
    },
    close: () => client.close(),
  };
}

// Node 20 has no global WebSocket, which the SDK's client transport needs;
// `ws` provides one. The browser API it mimics takes no headers, so the
// bearer token for the daemon is looked up by URL.
const upgradeHeaders = new Map<string, Record<string, string>>();

class HeaderedWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    const headers = upgradeHeaders.get(String(url)) ?? upgradeHeaders.get(String(url).replace(/\/$/, '')) ?? {};
    super(url, protocols, { headers, perMessageDeflate: false });
  }
}

function installWebSocket(): void {
  (globalThis as { WebSocket?: unknown }).WebSocket = HeaderedWebSocket;
}
