import { z } from 'zod';
import { defineConsultation } from './consultation.ts';
import { ANALYZE_SYSTEM_PROMPT } from './prompts/analyze.ts';

/** `analyze`: how code is built, how it behaves, and where it strains. */
export const analyzeTool = defineConsultation({
  name: 'analyze',
  title: 'Analyze code',
  description:
    'Have another model analyze files or whole directories: architecture, data flow, performance, ' +
    'security or code quality, with evidence by file and line and proportionate recommendations. ' +
    'Use it to understand unfamiliar code or to assess a codebase before changing it.',
  systemPrompt: ANALYZE_SYSTEM_PROMPT,
  shape: {
    analysis_type: z
      .enum(['general', 'architecture', 'performance', 'security', 'quality'])
      .default('general')
      .describe('What to concentrate on (default general)'),
  },
  request: (args) => `Analysis type: ${args.analysis_type}\n\nQuestion:\n${args.prompt}`,
});
