import { defineConsultation } from './consultation.ts';
import { CHAT_SYSTEM_PROMPT } from './prompts/chat.ts';

/** `chat`: a second opinion from another model, in a conversation that can go on. */
export const chatTool = defineConsultation({
  name: 'chat',
  title: 'Chat with another model',
  description:
    'Ask another AI model (Kimi, GLM, or any configured OpenAI-compatible model) for a second ' +
    'opinion, an explanation, or ideas. Use it to check your reasoning, brainstorm, or get a ' +
    'different view before you commit to an approach. Pass `files` for code to discuss and the ' +
    '`continuation_id` of an earlier answer to go on with that conversation.',
  systemPrompt: CHAT_SYSTEM_PROMPT,
  shape: {},
  request: (args) => args.prompt,
});
