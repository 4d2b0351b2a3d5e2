import { z } from 'zod';
import { defineConsultation } from './consultation.ts';
import { THINKDEEP_SYSTEM_PROMPT } from './prompts/thinkdeep.ts';

/** `thinkdeep`: extends and challenges the agent's own analysis of a hard problem. */
export const thinkDeepTool = defineConsultation({
  name: 'thinkdeep',
  title: 'Think deeper',
  description:
    'Hand your current analysis of a hard problem (architecture, a tricky bug, a risky change) to ' +
    'another model that looks for gaps, unstated assumptions, edge cases and alternatives, and ' +
    'returns concrete next steps. Use it before committing to a design or when you are going in ' +
    'circles. Put your thinking so far in `prompt`.',
  systemPrompt: THINKDEEP_SYSTEM_PROMPT,
  shape: {
    focus_areas: z
      .array(z.string().min(1))
      .max(10)
      .optional()
      .describe('Aspects to concentrate on, e.g. ["performance", "failure modes"]'),
    problem_context: z.string().optional().describe('Background the model needs: constraints, goals, what was ruled out'),
  },
  request(args) {
    const parts = [`My analysis so far:\n${args.prompt}`];
    if (args.problem_context) parts.push(`Context:\n${args.problem_context}`);
    if (args.focus_areas?.length) parts.push(`Focus on: ${args.focus_areas.join(', ')}`);
    return parts.join('\n\n');
  },
});
