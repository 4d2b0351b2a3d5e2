import { z } from 'zod';
import { defineTool, textResult } from './tool.ts';

/** `listmodels`: every known model, its provider and whether it can be used now. */
export const listModelsTool = defineTool({
  name: 'listmodels',
  title: 'List models',
  description:
    'List the models exai knows, with their provider, context window, aliases, and whether ' +
    'their provider has a key configured. Use it to choose a `model` for the other tools.',
  input: z.strictObject({}),
  async run(_args, context) {
    const models = context.models.list().map((m) => ({
      name: m.name,
      provider: m.provider,
      contextWindow: m.contextWindow,
      aliases: [...m.aliases],
      isAvailable: context.models.isAvailable(m),
    }));
    const lines = models.map((m) => {
      const mark = m.isAvailable ? 'available' : 'no key';
      const aliases = m.aliases.length > 0 ? ` (aliases: ${m.aliases.join(', ')})` : '';
      return `- ${m.name} [${m.provider}, ${m.contextWindow} tokens, ${mark}]${aliases}`;
    });
    return textResult(lines.join('\n'), { models });
  },
});
