import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { CommonConfig } from '../config.ts';
import { ExaiError } from '../errors.ts';
import type { StatusReport } from '../protocol/status.ts';
import { formatStatus } from '../protocol/status-format.ts';
import { connectClient, stopDaemon } from '../remote.ts';

/** `exai status`: the daemon's sessions, calls and load, as tables or JSON. */
export async function runStatus(config: CommonConfig, isJson: boolean): Promise<number> {
  const client = await connectClient(config, { autostart: false, timeoutMs: 0 });
  try {
    const result = (await client.callTool({ name: 'status', arguments: {} })) as CallToolResult;
    const report = result.structuredContent as unknown as StatusReport;
    process.stdout.write((isJson ? JSON.stringify(report, null, 2) : formatStatus(report)) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}

/** `exai call TOOL`: one call through the daemon (started if need be); the answer on stdout. */
export async function runCall(
  config: CommonConfig,
  tool: string,
  pairs: string[],
  json: string | undefined,
): Promise<number> {
  const args = callArguments(pairs, json);
  const client = await connectClient(config, { autostart: true, timeoutMs: 15_000 });
  try {
    const result = await client.callTool({ name: tool, arguments: args }, CallToolResultSchema, {
      onprogress: (p) => process.stderr.write(`exai: ${p.message ?? `progress ${p.progress}`}\n`),
      resetTimeoutOnProgress: true,
      timeout: 24 * 60 * 60 * 1000,
    });
    const text = (result.content as { type: string; text?: string }[])
      .filter((c) => c.type === 'text')
      .map((c) => c.text)
      .join('\n');
    (result.isError ? process.stderr : process.stdout).write(text + '\n');
    return result.isError ? 1 : 0;
  } finally {
    await client.close();
  }
}

/** `exai stop`: asks the daemon to drain and exit, and waits until it has. */
export async function runStop(config: CommonConfig): Promise<number> {
  const record = await stopDaemon(config, 30_000);
  process.stderr.write(`exai: stopped the daemon (pid ${record.pid}, port ${record.port})\n`);
  return 0;
}

/** Builds the arguments of `exai call` from `--json` and `--arg key=value` pairs. */
export function callArguments(pairs: readonly string[], json: string | undefined): Record<string, unknown> {
  let args: Record<string, unknown> = {};
  if (json !== undefined) {
    try {
      args = JSON.parse(json) as Record<string, unknown>;
    } catch (err) {
      throw new ExaiError('CONFIG_INVALID', `Cannot read --json: not valid JSON (${(err as Error).message})`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new ExaiError('CONFIG_INVALID', 'Cannot read --json: expected a JSON object');
    }
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ExaiError('CONFIG_INVALID', `Cannot read --arg "${pair}": expected key=value`);
    args[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
  }
  return args;
}

// `--arg temperature=0.2` is a number and `--arg prompt=hello` a string.
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
