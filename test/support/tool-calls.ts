import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ShimClient } from './exai-processes.ts';

/**
 * The text of a tool result's first block: the answer. Consultation tools add
 * exai's own block (the continuation_id) after it.
 */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

/** The stable error code exai puts on an `isError` result. */
export function codeOf(result: CallToolResult): unknown {
  return result._meta?.['exai/code'];
}

/** Calls `chat` through a shim and records every progress message the call receives. */
export function chat(shim: ShimClient, prompt: string, extra: { model?: string; signal?: AbortSignal } = {}) {
  const progress: string[] = [];
  const args: Record<string, unknown> = { prompt };
  if (extra.model) args.model = extra.model;
  const result = shim.client.callTool({ name: 'chat', arguments: args }, CallToolResultSchema, {
    onprogress: (p) => progress.push(p.message ?? ''),
    ...(extra.signal ? { signal: extra.signal } : {}),
    timeout: 60_000,
  }) as Promise<CallToolResult>;
  // Rejections are asserted by the tests that expect them; never unhandled.
  result.catch(() => {});
  return { result, progress };
}
