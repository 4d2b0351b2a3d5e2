import { z } from 'zod';
import type { Scheduler } from '../queue/scheduler.ts';
import { PROVIDERS } from '../providers/catalog.ts';
import { defineTool, textResult, type Tool } from './tool.ts';

/** The name of the benchmark tool, served only by a daemon started with `--bench`. */
export const BENCH_ECHO = 'bench_echo';

const PROVIDER_NAMES = PROVIDERS.map((p) => p.name) as [string, ...string[]];

/**
 * `bench_echo`: answers its `text` at once and calls no model, so it measures
 * what exai itself adds to a call. Like every tool that calls no model it takes
 * no slot; given `provider`, it takes a global slot and one of that provider
 * first, as a model call would, so that the queue is measured too.
 */
export function benchEchoTool(scheduler: Pick<Scheduler, 'admit'>): Tool {
  return defineTool({
    name: BENCH_ECHO,
    title: 'Benchmark echo',
    description: 'Echo `text` back without calling a model (for `npm run bench`; served only with --bench).',
    input: z.strictObject({
      text: z.string().max(65_536).default(''),
      provider: z.enum(PROVIDER_NAMES).optional(),
    }),
    async run(args, context) {
      if (args.provider === undefined) return textResult(args.text);

      const admission = await scheduler.admit(args.provider, { signal: context.signal });
      try {
        return textResult(args.text);
      } finally {
        admission.release();
      }
    },
  });
}
