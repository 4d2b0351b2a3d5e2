import { z } from 'zod';
import { defineConsultation } from './consultation.ts';
import { DEBUG_SYSTEM_PROMPT } from './prompts/debug.ts';

/** `debug`: a debugging partner that reasons from the evidence to a root cause and a fix. */
export const debugTool = defineConsultation({
  name: 'debug',
  title: 'Debug with another model',
  description:
    'Get help finding the root cause of a bug: describe the symptom in `prompt`, add error output ' +
    'in `error_context`, your current `hypothesis` if you have one, and the relevant `files`. The ' +
    'answer ranks likely causes with the lines involved, judges your hypothesis, and proposes the ' +
    'smallest fix and the test that proves it.',
  systemPrompt: DEBUG_SYSTEM_PROMPT,
  shape: {
    error_context: z.string().optional().describe('Stack traces, logs or failing test output, verbatim'),
    hypothesis: z.string().optional().describe('What you currently believe the cause is'),
  },
  request(args) {
    const parts = [`Problem:\n${args.prompt}`];
    if (args.error_context) parts.push(`Error output:\n${args.error_context}`);
    if (args.hypothesis) parts.push(`My hypothesis:\n${args.hypothesis}`);
    return parts.join('\n\n');
  },
});
