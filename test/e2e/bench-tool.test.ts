import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { cleanUp, startDaemon, startShimClient } from '../support/exai-processes.ts';

// `bench_echo` exists for `npm run bench` only: a daemon started without the
// bench flag neither lists it nor runs it.

after(cleanUp);

function textOf(result: CallToolResult): string {
  const block = result.content[0];
  return block?.type === 'text' ? block.text : '';
}

describe('bench_echo', () => {
  test('is hidden from tools/list and refused as an unknown tool without the bench flag', async () => {
    const daemon = await startDaemon();
    const { client } = await startShimClient({ stateDir: daemon.stateDir });

    const { tools } = await client.listTools();
    assert.ok(tools.length > 0);
    assert.ok(!tools.some((t) => t.name === 'bench_echo'), 'bench_echo is listed');

    await assert.rejects(client.callTool({ name: 'bench_echo', arguments: { text: 'hi' } }), (err) => {
      assert.ok(err instanceof McpError, `expected an McpError, got ${String(err)}`);
      assert.equal(err.code, -32602);
      assert.match(err.message, /Unknown tool "bench_echo"/);
      return true;
    });
  });

  test('is listed and echoes with --bench, with or without taking slots', async () => {
    const daemon = await startDaemon({ args: ['--bench', '--max-inflight', '1'] });
    const { client } = await startShimClient({ stateDir: daemon.stateDir });

    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'bench_echo'), 'bench_echo is not listed');

    const plain = (await client.callTool({ name: 'bench_echo', arguments: { text: 'hi' } })) as CallToolResult;
    assert.equal(plain.isError, undefined);
    assert.equal(textOf(plain), 'hi');

    const calls = ['a', 'b', 'c'].map((text) =>
      client.callTool({ name: 'bench_echo', arguments: { text, provider: 'kimi' } }),
    );
    const slotted = (await Promise.all(calls)) as CallToolResult[];
    assert.deepEqual(slotted.map(textOf), ['a', 'b', 'c']);
  });

  test('is served when EXAI_BENCH=1 is set instead of the flag', async () => {
    const daemon = await startDaemon({ env: { EXAI_BENCH: '1' } });
    const { client } = await startShimClient({ stateDir: daemon.stateDir });

    const result = (await client.callTool({ name: 'bench_echo', arguments: {} })) as CallToolResult;
    assert.equal(textOf(result), '');
  });
});
