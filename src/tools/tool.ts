import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { StatusReport } from '../protocol/status.ts';
import type { ModelRegistry } from '../providers/models.ts';
import type { ChatMessage, ChatResult } from '../providers/openai-compatible.ts';
import type { ThreadStore } from '../threads/thread-store.ts';

/** One model request a tool asks for; the daemon schedules it and picks the provider. */
export interface ConsultRequest {
  /** A model name or alias; undefined means DEFAULT_MODEL. */
  model?: string;
  messages: ChatMessage[];
  temperature?: number;
}

/** What a tool may use while it runs. */
export interface ToolContext {
  callId: string;
  sessionName: string;
  signal: AbortSignal;
  log: Logger;
  models: ModelRegistry;
  threads: ThreadStore;
  /** Waits for a global and a provider slot, then asks the model. */
  consult(request: ConsultRequest): Promise<ChatResult>;
  /** Sends a progress message to the client, when it asked for progress. */
  progress(message: string): void;
  /** Directories whose files the call may read: the client's MCP roots, else --root. */
  roots(): Promise<string[]>;
  /** The daemon's current load, sessions and calls. */
  status(): StatusReport;
}

/** A tool the daemon serves: its schema and its handler. */
export interface Tool<Schema extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  /** Tells an agent when to use the tool. */
  description: string;
  input: Schema;
  run(args: z.infer<Schema>, context: ToolContext): Promise<CallToolResult>;
}

/** Builds a tool with its argument types checked against its schema. */
export function defineTool<Schema extends z.ZodObject>(tool: Tool<Schema>): Tool {
  return tool as unknown as Tool;
}

/** A result holding one text block. */
export function textResult(text: string, structured?: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text }],
    ...(structured === undefined ? {} : { structuredContent: structured }),
  };
}
