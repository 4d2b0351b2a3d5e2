import { z } from 'zod';
import { formatStatus } from '../protocol/status-format.ts';
import { defineTool, textResult } from './tool.ts';

/** `status`: the daemon's sessions, calls and load. */
export const statusTool = defineTool({
  name: 'status',
  title: 'Daemon status',
  description:
    'Show the shared exai daemon: connected sessions, running and queued calls with their age ' +
    'and provider, and the load of each provider. Use it when a call seems slow to start.',
  input: z.strictObject({}),
  async run(_args, context) {
    const report = context.status();
    return textResult(formatStatus(report), report as unknown as Record<string, unknown>);
  },
});
