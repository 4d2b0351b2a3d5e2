import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * The text of a tool result's first block: the answer. Consultation tools add
 * exai's own block (the continuation_id) after it.
 */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

/** Every text block of a result, joined by newlines. */
export function allTextOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}
