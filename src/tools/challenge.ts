import { z } from 'zod';
import { defineTool, textResult } from './tool.ts';

/** `challenge`: turns a statement into an instruction to test it critically; asks no model. */
export const challengeTool = defineTool({
  name: 'challenge',
  title: 'Challenge a statement',
  description:
    'Use it when the user pushes back or questions your work ("are you sure?", "that is wrong"), ' +
    'or before you agree with a claim you have not verified: it returns the statement wrapped in ' +
    'instructions to re-examine it against the evidence instead of agreeing by reflex. Calls no ' +
    'model and takes no queue slot.',
  input: z.strictObject({
    prompt: z.string().min(1).describe('The statement, claim or objection to examine, as it was said'),
  }),
  async run(args) {
    const instructions = [
      'Examine the statement below critically before you respond. Do not agree by reflex, and do not',
      'disagree for the sake of it.',
      '1. What exactly does it claim, and what would have to be true for it to hold?',
      '2. What evidence do you have (code, output, documentation) for and against it? Check, do not recall.',
      '3. If it is right, say so, say what you got wrong, and correct course.',
      '4. If it is wrong or only partly right, say so plainly, show the evidence, and keep what was correct.',
    ].join('\n');
    return textResult(`${instructions}\n\nStatement:\n"""\n${args.prompt}\n"""`, { statement: args.prompt, instructions });
  },
});
