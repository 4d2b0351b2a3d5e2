// The floor over WebSocket: the SDK's low-level Server behind exai's own
// WebSocket transport, serving `bench_echo` and nothing else: no token, no
// dispatcher, no scheduler, no logs. Against `exai-direct` it shows what the
// daemon's own work costs; against the stdio floor, what the transport costs.
// Prints its port on stdout.

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { WebSocketServer } from 'ws';
import { SUBPROTOCOL } from '../src/protocol/wire.ts';
import { WebSocketTransport } from '../src/protocol/ws-transport.ts';

const TOOL = {
  name: 'bench_echo',
  description: 'Echo `text` back.',
  inputSchema: { type: 'object' as const, properties: { text: { type: 'string' } } },
};

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
});
wss.on('connection', (ws) => {
  const server = new Server({ name: 'bench-floor-ws', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [TOOL] }));
  server.setRequestHandler(CallToolRequestSchema, (request) => {
    const text = String(request.params.arguments?.text ?? '');
    return { content: [{ type: 'text', text }] };
  });
  void server.connect(new WebSocketTransport(ws, { answerBadFrames: true }));
});
wss.on('listening', () => {
  const address = wss.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : address}\n`);
});

// A clean exit on SIGTERM, so that `node --cpu-prof` can write its profile.
process.once('SIGTERM', () => process.exit(0));
