import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ExaiError } from '../errors.ts';
import type { ModelInfo } from '../providers/models.ts';
import type { ChatMessage } from '../providers/openai-compatible.ts';
import type { Thread, ThreadTurn } from '../threads/thread-store.ts';
import { embedFiles, type Embedding, type SkippedFile } from '../workspace/file-embedder.ts';
import { AllowedRoots, workspaceKey } from '../workspace/roots.ts';
import { defineTool, type Tool, type ToolContext } from './tool.ts';

// Characters per token for the budget: code runs at 3-4, so 3 errs on the safe side.
const CHARS_PER_TOKEN = 3;
// The share of a model's context window the request may fill; the rest is the answer's.
const CONTEXT_SHARE = 0.6;

/** The arguments every consultation tool takes. */
export const consultationShape = {
  prompt: z.string().min(1).describe('The request, with the context the model needs: what you know, what you tried, what you want back'),
  model: z
    .string()
    .optional()
    .describe('Model name or alias (see listmodels); omitted or "auto": DEFAULT_MODEL, else the first available'),
  files: z
    .array(z.string().min(1))
    .max(200)
    .optional()
    .describe('Absolute paths of files or directories for the model to read; they must lie inside the MCP roots of your client (or the daemon\'s --root)'),
  continuation_id: z
    .string()
    .optional()
    .describe('The continuation_id of an earlier exai answer: continues that conversation, with its turns and files, from any tool'),
  temperature: z.number().min(0).max(2).optional().describe('Sampling temperature, 0 to 2'),
};

/** Arguments common to every consultation tool. */
export interface ConsultationArgs {
  prompt: string;
  model?: string | undefined;
  files?: string[] | undefined;
  continuation_id?: string | undefined;
  temperature?: number | undefined;
}

/** A consultation tool: its prompt, its own fields and how they become the request. */
export interface ConsultationSpec<Shape extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  systemPrompt: string;
  /** Fields beyond {@link consultationShape}. */
  shape: Shape;
  /** The request text the model reads after the files. */
  request(args: ConsultationArgs & z.infer<z.ZodObject<Shape>>): string;
  /** Context only this tool gathers (precommit: the diff), read inside the roots. */
  gather?(args: ConsultationArgs & z.infer<z.ZodObject<Shape>>, scope: GatherScope): Promise<string[]>;
}

/** What a tool's own gathering may use. */
export interface GatherScope {
  roots: AllowedRoots;
  signal: AbortSignal;
  budgetChars: number;
}

/** Builds a tool that asks one model, inside a conversation thread. */
export function defineConsultation<Shape extends z.ZodRawShape>(spec: ConsultationSpec<Shape>): Tool {
  return defineTool({
    name: spec.name,
    title: spec.title,
    description: spec.description,
    input: z.strictObject({ ...consultationShape, ...spec.shape }),
    async run(args, context) {
      const typed = args as ConsultationArgs & z.infer<z.ZodObject<Shape>>;
      const model = context.models.resolve(typed.model);
      const scope = await openScope(context, typed.continuation_id, 2);
      const budget = budgetOf(model);
      const sections = spec.gather ? await spec.gather(typed, { roots: scope.roots, signal: context.signal, budgetChars: budget }) : [];

      const requestText = spec.request(typed);
      const prepared = await prepare(scope, typed.files ?? [], {
        model,
        systemPrompt: spec.systemPrompt,
        sections,
        requestText,
        signal: context.signal,
      });
      if (prepared.embedding.files.length > 0) context.progress(`read ${prepared.embedding.files.length} files`);

      const result = await context.consult({ model: model.name, temperature: typed.temperature, messages: prepared.messages });
      return answer(context, scope, {
        tool: spec.name,
        requestText,
        files: prepared.embedding.requestedFiles,
        answerText: result.text,
        model: result.model,
        skipped: prepared.embedding.skipped,
      });
    },
  });
}

/** Where a call stands: its roots, its workspace and the thread it continues. */
export interface CallScope {
  roots: AllowedRoots;
  workspace: string;
  thread: Thread | undefined;
}

/** Resolves the roots and opens the thread a call continues, with room for `turnsToAdd`. */
export async function openScope(context: ToolContext, continuationId: string | undefined, turnsToAdd: number): Promise<CallScope> {
  const rootPaths = await context.roots();
  const workspace = workspaceKey(rootPaths);
  const thread = continuationId === undefined ? undefined : await context.threads.open(continuationId, workspace, turnsToAdd);
  return { roots: await AllowedRoots.of(rootPaths), workspace, thread };
}

/** What a model request is made of. */
export interface PrepareOptions {
  model: ModelInfo;
  systemPrompt: string;
  sections: readonly string[];
  requestText: string;
  signal: AbortSignal;
}

/** The messages of a request: system prompt, the thread's turns, then files, sections and request. */
export async function prepare(
  scope: CallScope,
  files: readonly string[],
  options: PrepareOptions,
): Promise<{ messages: ChatMessage[]; embedding: Embedding }> {
  const history = (scope.thread?.turns ?? []).map(historyMessage);
  const fixed = [options.systemPrompt, options.requestText, ...options.sections, ...history.map((m) => m.content)];
  const fixedChars = fixed.reduce((sum, text) => sum + text.length, 0);
  const budget = budgetOf(options.model);
  if (fixedChars > budget) {
    throw new ExaiError(
      'CONTEXT_TOO_LARGE',
      `Cannot ask ${options.model.name}: the conversation and the request take ${fixedChars.toLocaleString('en')} characters, over its budget of ${budget.toLocaleString('en')}; start a new thread or shorten the request`,
      { facts: { model: options.model.name, usedChars: fixedChars, budgetChars: budget } },
    );
  }

  const embedding = await embedFiles({
    requested: files,
    earlier: earlierFiles(scope.thread),
    roots: scope.roots,
    budgetChars: budget - fixedChars,
    signal: options.signal,
  });
  const context = [
    embedding.text === '' ? '' : `Files (their current contents, shown once for the whole conversation):\n\n${embedding.text}`,
    ...options.sections,
    noteOf(embedding.skipped),
  ].filter((part) => part !== '');
  // With nothing beside it, the request goes as it is; otherwise it is marked off from the files.
  const content = context.length === 0 ? options.requestText : [...context, `=== REQUEST ===\n${options.requestText}`].join('\n\n');

  return {
    messages: [
      { role: 'system', content: options.systemPrompt },
      ...history,
      { role: 'user', content },
    ],
    embedding,
  };
}

/** What one answered call adds to its thread and tells the agent. */
export interface AnswerParts {
  tool: string;
  requestText: string;
  files: string[];
  answerText: string;
  model: string;
  skipped: readonly SkippedFile[];
}

/** Stores the exchange in the thread and returns the answer with its continuation_id. */
export async function answer(context: ToolContext, scope: CallScope, parts: AnswerParts): Promise<CallToolResult> {
  const turns: Omit<ThreadTurn, 'at'>[] = [
    { role: 'user', tool: parts.tool, text: parts.requestText, files: parts.files },
    { role: 'assistant', tool: parts.tool, text: parts.answerText, files: [], model: parts.model },
  ];
  const thread = await context.threads.append(scope.thread?.id, scope.workspace, turns);
  const remaining = context.threads.remainingTurns(thread);

  const footer = [
    `continuation_id: ${thread.id} (pass it to any exai tool to continue this conversation; ${remaining} of ${context.threads.maxTurns} turns left)`,
    ...parts.skipped.map((s) => `not embedded: ${s.path} (${s.reason})`),
  ];
  // The model's answer, then exai's own block: the answer stays as the model wrote it.
  return {
    content: [
      { type: 'text', text: parts.answerText },
      { type: 'text', text: footer.join('\n') },
    ],
    structuredContent: {
      model: parts.model,
      answer: parts.answerText,
      continuation_id: thread.id,
      remaining_turns: remaining,
      ...(parts.skipped.length > 0 ? { skipped_files: parts.skipped.map((s) => ({ ...s })) } : {}),
    },
  };
}

/** Characters a request to `model` may take. */
export function budgetOf(model: ModelInfo): number {
  return Math.floor(model.contextWindow * CONTEXT_SHARE * CHARS_PER_TOKEN);
}

/** The files of a thread's turns, newest turn first, each once. */
function earlierFiles(thread: Thread | undefined): string[] {
  const turns = thread?.turns ?? [];
  const files = [...turns].reverse().flatMap((turn) => turn.files);
  return [...new Set(files)];
}

function historyMessage(turn: ThreadTurn): ChatMessage {
  if (turn.role === 'assistant') return { role: 'assistant', content: turn.text };
  return { role: 'user', content: `(through the ${turn.tool} tool) ${turn.text}` };
}

function noteOf(skipped: readonly SkippedFile[]): string {
  if (skipped.length === 0) return '';
  return `Not embedded:\n${skipped.map((s) => `- ${s.path}: ${s.reason}`).join('\n')}`;
}
