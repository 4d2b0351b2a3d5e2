import { z } from 'zod';
import { ExaiError, messageOf, type ErrorCode } from '../errors.ts';
import type { ModelInfo } from '../providers/models.ts';
import { answer, consultationShape, openScope, prepare } from './consultation.ts';
import { CONSENSUS_SYNTHESIS_PROMPT, consensusStancePrompt, type Stance } from './prompts/consensus.ts';
import { defineTool, type ToolContext } from './tool.ts';

const voiceSchema = z.strictObject({
  model: z.string().min(1).describe('Model name or alias (see listmodels)'),
  stance: z.enum(['for', 'against', 'neutral']).default('neutral').describe('The side this model argues: for, against, or neutral (default)'),
  stance_prompt: z.string().optional().describe('Instructions for this voice that replace the default brief of its stance'),
});

type Voice = z.infer<typeof voiceSchema>;

const VOICE_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['PROVIDER_FAILED', 'CALL_TIMEOUT', 'QUEUE_TIMEOUT']);

/** One model's view, or why it could not give one. */
interface View {
  model: string;
  stance: Stance;
  answer?: string;
  error?: string;
}

/** `consensus`: asks several models in turn, each from a stance, then writes a synthesis. */
export const consensusTool = defineTool({
  name: 'consensus',
  title: 'Consensus of several models',
  description:
    'Put a technical decision (an approach, a design, a library choice) to several models, each ' +
    'arguing an assigned stance (for, against, neutral), then get a synthesis: where they agree, ' +
    'what the disagreement hinges on, and a recommendation. Each model is asked once, in turn, ' +
    'through the shared queue. `model` chooses the model that writes the synthesis.',
  input: z.strictObject({
    ...consultationShape,
    models: z.array(voiceSchema).min(1).max(8).describe('The voices: [{model, stance}], each asked once in this order'),
    model: consultationShape.model.describe('Model that writes the synthesis; omitted: the first voice\'s model'),
  }),
  async run(args, context) {
    const voices = resolveVoices(args.models, context);
    const synthesizer = context.models.resolve(args.model ?? voices[0]!.info.name);
    const scope = await openScope(context, args.continuation_id, 2);
    const smallest = [synthesizer, ...voices.map((v) => v.info)].reduce((a, b) => (a.contextWindow <= b.contextWindow ? a : b));

    const prepared = await prepare(scope, args.files ?? [], {
      model: smallest,
      systemPrompt: consensusStancePrompt('neutral', undefined),
      sections: [],
      requestText: args.prompt,
      signal: context.signal,
    });
    const [, ...conversation] = prepared.messages;

    const views: View[] = [];
    for (const [i, voice] of voices.entries()) {
      context.progress(`consensus: asking ${voice.info.name} (${voice.stance}), ${i + 1} of ${voices.length}`);
      views.push(await askVoice(context, voice, conversation, args.temperature));
    }
    if (views.every((v) => v.error !== undefined)) {
      throw new ExaiError('PROVIDER_FAILED', `Cannot reach a consensus: no model answered (${views.map((v) => `${v.model}: ${v.error}`).join('; ')})`);
    }

    context.progress(`consensus: writing the synthesis with ${synthesizer.name}`);
    const synthesis = await context.consult({
      model: synthesizer.name,
      temperature: args.temperature,
      messages: [
        { role: 'system', content: CONSENSUS_SYNTHESIS_PROMPT },
        { role: 'user', content: `The decision:\n${args.prompt}\n\nThe views:\n\n${formatViews(views)}` },
      ],
    });

    const text = `${synthesis.text}\n\n## The views\n\n${formatViews(views)}`;
    const result = await answer(context, scope, {
      tool: 'consensus',
      requestText: args.prompt,
      files: prepared.embedding.requestedFiles,
      answerText: text,
      model: synthesis.model,
      skipped: prepared.embedding.skipped,
    });
    result.structuredContent = { ...result.structuredContent, synthesis: synthesis.text, views: views.map((v) => ({ ...v })) };
    return result;
  },
});

/** Every voice's model, checked before any is asked; the same model twice needs two stances. */
function resolveVoices(voices: readonly Voice[], context: ToolContext): (Voice & { info: ModelInfo })[] {
  const resolved = voices.map((voice) => ({ ...voice, info: context.models.resolve(voice.model) }));
  const seen = new Set<string>();
  for (const voice of resolved) {
    const key = `${voice.info.name}/${voice.stance}`;
    if (seen.has(key)) {
      throw new ExaiError('INVALID_ARGUMENTS', `Cannot run "consensus": ${voice.info.name} is listed twice with stance ${voice.stance}; give each model a different stance`);
    }
    seen.add(key);
  }
  return resolved;
}

async function askVoice(
  context: ToolContext,
  voice: Voice & { info: ModelInfo },
  conversation: { role: 'system' | 'user' | 'assistant'; content: string }[],
  temperature: number | undefined,
): Promise<View> {
  const view = { model: voice.info.name, stance: voice.stance };
  try {
    const result = await context.consult({
      model: voice.info.name,
      temperature,
      messages: [{ role: 'system', content: consensusStancePrompt(voice.stance, voice.stance_prompt) }, ...conversation],
    });
    return { ...view, answer: result.text };
  } catch (err) {
    // One provider's failure leaves the other voices standing; a cancel or a drain stops all.
    if (context.signal.aborted || !(err instanceof ExaiError) || !VOICE_FAILURES.has(err.code)) throw err;
    context.log.warn('consensus voice failed', { model: voice.info.name, error: messageOf(err) });
    return { ...view, error: messageOf(err) };
  }
}

function formatViews(views: readonly View[]): string {
  return views
    .map((v) => `### ${v.model} (${v.stance})\n${v.answer ?? `No answer: ${v.error}`}`)
    .join('\n\n');
}
