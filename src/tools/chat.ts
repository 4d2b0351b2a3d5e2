import { z } from 'zod';
import { CHAT_SYSTEM_PROMPT } from './prompts/chat.ts';
import { defineTool, textResult } from './tool.ts';

const input = z.strictObject({
  prompt: z.string().min(1).describe('The question or request, with all the context the model needs'),
  model: z
    .string()
    .optional()
    .describe('Model name or alias (see listmodels); omitted: DEFAULT_MODEL, or the first available'),
  temperature: z.number().min(0).max(2).optional().describe('Sampling temperature, 0 to 2'),
});

/** `chat`: a second opinion from another model, one question at a time. */
export const chatTool = defineTool({
  name: 'chat',
  title: 'Chat with another model',
  description:
    'Ask another AI model (Kimi, GLM, or any configured OpenAI-compatible model) for a second ' +
    'opinion, an explanation, or ideas. Use it to check your reasoning, brainstorm, or get a ' +
    'different view before you commit to an approach. Calls from every client share one queue.',
  input,
  async run(args, context) {
    const result = await context.consult({
      model: args.model,
      temperature: args.temperature,
      messages: [
        { role: 'system', content: CHAT_SYSTEM_PROMPT },
        { role: 'user', content: args.prompt },
      ],
    });
    return textResult(result.text, { model: result.model, answer: result.text });
  },
});
