import { analyzeTool } from './analyze.ts';
import { challengeTool } from './challenge.ts';
import { chatTool } from './chat.ts';
import { codeReviewTool } from './codereview.ts';
import { consensusTool } from './consensus.ts';
import { debugTool } from './debug.ts';
import { listModelsTool } from './listmodels.ts';
import { plannerTool } from './planner.ts';
import { precommitTool } from './precommit.ts';
import { statusTool } from './status.ts';
import { thinkDeepTool } from './thinkdeep.ts';
import type { Tool } from './tool.ts';
import { versionTool } from './version.ts';

/** Every tool the daemon serves, in the order `tools/list` shows them. */
export const TOOLS: readonly Tool[] = [
  chatTool,
  thinkDeepTool,
  debugTool,
  codeReviewTool,
  analyzeTool,
  precommitTool,
  consensusTool,
  plannerTool,
  challengeTool,
  listModelsTool,
  versionTool,
  statusTool,
];
