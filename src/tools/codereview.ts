import { z } from 'zod';
import { defineConsultation } from './consultation.ts';
import { CODEREVIEW_SYSTEM_PROMPT } from './prompts/codereview.ts';

/** `codereview`: findings by severity, with the line and the fix. */
export const codeReviewTool = defineConsultation({
  name: 'codereview',
  title: 'Code review',
  description:
    'Have another model review code: pass the `files` (or directories) to review and say in ' +
    '`prompt` what the code is for and what worries you. Findings come back by severity ' +
    '(CRITICAL to LOW) with file:line and a fix. Use it after writing non-trivial code and ' +
    'before asking a human to review.',
  systemPrompt: CODEREVIEW_SYSTEM_PROMPT,
  shape: {
    review_type: z
      .enum(['full', 'security', 'performance', 'quick'])
      .default('full')
      .describe('full (default), security, performance, or quick (critical issues only)'),
    standards: z.string().optional().describe('Coding standards or conventions the code must follow'),
  },
  request(args) {
    const parts = [`Review type: ${args.review_type}`, `About the code:\n${args.prompt}`];
    if (args.standards) parts.push(`Standards to apply:\n${args.standards}`);
    return parts.join('\n\n');
  },
});
