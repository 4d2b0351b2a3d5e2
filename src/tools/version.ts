import { z } from 'zod';
import { VERSION } from '../version.ts';
import { defineTool, textResult } from './tool.ts';

/** `version`: the daemon's version and runtime. */
export const versionTool = defineTool({
  name: 'version',
  title: 'Version',
  description: 'Show the version of the exai daemon and the runtime it runs on.',
  input: z.strictObject({}),
  async run() {
    const runtime = `node ${process.versions.node}`;
    return textResult(`exai ${VERSION} (${runtime}, ${process.platform}-${process.arch})`, {
      version: VERSION,
      runtime,
      platform: `${process.platform}-${process.arch}`,
    });
  },
});
