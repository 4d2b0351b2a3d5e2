import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/log.ts';
import { Relay } from '../../src/shim/relay.ts';
import type { ClientChannel } from '../../src/shim/stdio-channel.ts';

// The relay between an in-memory client channel and in-memory "daemons":
// SDK servers whose tools and answers each test chooses.

class RecordingChannel implements ClientChannel {
  readonly received: JSONRPCMessage[] = [];
  onmessage?: (message: JSONRPCMessage) => void;
  #waiters: (() => void)[] = [];

  send(message: JSONRPCMessage): void {
    this.received.push(message);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  fromClient(message: JSONRPCMessage): void {
    this.onmessage!(message);
  }

  async next(isWanted: (m: JSONRPCMessage) => boolean): Promise<JSONRPCMessage> {
    for (;;) {
      const found = this.received.find(isWanted);
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** A daemon stand-in serving `tools`; `hold` keeps tools/call unanswered. */
async function fakeDaemon(tools: string[], hold = false) {
  const [near, far] = InMemoryTransport.createLinkedPair();
  const server = new Server({ name: 'fake', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools.map((name) => ({ name, inputSchema: { type: 'object' as const } })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    if (hold) await new Promise(() => {});
    return { content: [{ type: 'text' as const, text: `ran ${request.params.name}` }] };
  });
  await server.connect(far);
  await near.start();
  return { link: near, server };
}

function relayWith(channel: RecordingChannel, links: Awaited<ReturnType<typeof fakeDaemon>>[]) {
  const relay = new Relay({
    client: channel,
    log: silentLogger,
    version: '9.9.9',
    connectTimeoutMs: 5000,
    retryBaseMs: 1,
    retryMaxMs: 5,
    openLink: async () => {
      const next = links.shift();
      if (!next) throw new Error('no daemon');
      return next.link;
    },
  });
  relay.start();
  return relay;
}

const initialize: JSONRPCMessage = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
};
const idIs = (id: string | number) => (m: JSONRPCMessage) => 'id' in m && m.id === id;

describe('relay', () => {
  test('answers initialize itself before any daemon is reached', async () => {
    const channel = new RecordingChannel();
    relayWith(channel, []);

    channel.fromClient(initialize);

    const answer = (await channel.next(idIs('init'))) as unknown as { result: { serverInfo: { name: string; version: string } } };
    assert.deepEqual(answer.result.serverInfo, { name: 'exai', version: '9.9.9' });
  });

  test('fails a forwarded call with DAEMON_GONE when the connection drops, then works on the next daemon', async () => {
    const channel = new RecordingChannel();
    const first = await fakeDaemon(['chat'], true);
    const second = await fakeDaemon(['chat']);
    const relay = relayWith(channel, [first, second]);
    channel.fromClient(initialize);
    channel.fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chat', arguments: {} } });
    await waitUntil(() => relay.isLinked);

    await first.link.close();
    const gone = (await channel.next(idIs(1))) as unknown as { error: { code: number; message: string; data: { code: string } } };
    channel.fromClient({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'chat', arguments: {} } });
    const again = (await channel.next(idIs(2))) as unknown as { result: { content: { text: string }[] } };

    assert.equal(gone.error.code, -32001);
    assert.equal(gone.error.data.code, 'DAEMON_GONE');
    assert.match(gone.error.message, /went away while the call ran/);
    assert.equal(again.result.content[0]!.text, 'ran chat');
  });

  test('tells the client the tool list changed when the new daemon serves other tools', async () => {
    const channel = new RecordingChannel();
    const first = await fakeDaemon(['chat']);
    const same = await fakeDaemon(['chat']);
    const changed = await fakeDaemon(['chat', 'thinkdeep']);
    const relay = relayWith(channel, [first, same, changed]);
    channel.fromClient(initialize);
    await waitUntil(() => relay.isLinked);

    await first.link.close();
    await waitUntil(() => relay.isLinked);
    const afterSame = channel.received.filter((m) => 'method' in m && m.method === 'notifications/tools/list_changed');
    await same.link.close();
    await channel.next((m) => 'method' in m && m.method === 'notifications/tools/list_changed');

    assert.equal(afterSame.length, 0, 'a reconnect to the same tools must not announce a change');
  });

  test('drops a queued request that the client cancels before any daemon answers', async () => {
    const channel = new RecordingChannel();
    const relay = relayWith(channel, []);
    channel.fromClient(initialize);
    channel.fromClient({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'chat', arguments: {} } });

    channel.fromClient({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } });
    await relay.close();

    assert.equal(channel.received.filter(idIs(7)).length, 0);
  });
});

async function waitUntil(isDone: () => boolean): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!isDone()) {
    if (performance.now() > deadline) throw new Error('Timed out waiting for the relay');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
