// The floor: the plainest stdio MCP server the SDK makes, serving the same
// trivial `bench_echo` tool as `exai daemon --bench`. The latency benchmark
// calls it directly (client -> this process) and through supergateway
// (client -> supergateway -> this process). Plain JavaScript so that it runs
// on bare `node`, with no loader in the way.

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'bench-floor', version: '1.0.0' });
server.registerTool(
  'bench_echo',
  {
    description: 'Echo `text` back.',
    inputSchema: { text: z.string().max(65_536).default('') },
  },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);
await server.connect(new StdioServerTransport());
