import { chatTool } from './chat.ts';
import { listModelsTool } from './listmodels.ts';
import { statusTool } from './status.ts';
import type { Tool } from './tool.ts';
import { versionTool } from './version.ts';

/** Every tool the daemon serves, in the order `tools/list` shows them. */
export const TOOLS: readonly Tool[] = [chatTool, listModelsTool, versionTool, statusTool];
