import { z } from 'zod';
import type { PlanStep, ThreadTurn } from '../threads/thread-store.ts';
import { openScope } from './consultation.ts';
import { defineTool } from './tool.ts';

const input = z.strictObject({
  step: z.string().min(1).describe('This step of the plan: what to do, why, and what it depends on'),
  step_number: z.number().int().min(1).describe('Number of this step, from 1'),
  total_steps: z.number().int().min(1).describe('Steps you now expect in all (may change as you go)'),
  next_step_required: z.boolean().describe('true while more steps follow; false on the last one'),
  revises_step_number: z.number().int().min(1).optional().describe('Set when this step replaces an earlier step'),
  branch_from_step: z.number().int().min(1).optional().describe('Set when this step starts an alternative branch from an earlier step'),
  branch_id: z.string().min(1).max(60).optional().describe('Name of the branch this step belongs to (with branch_from_step)'),
  continuation_id: z.string().optional().describe('The continuation_id of the plan (from the answer to step 1); omitted on step 1'),
});

type Args = z.infer<typeof input>;

/** `planner`: builds a plan step by step, kept in a thread; asks no model. */
export const plannerTool = defineTool({
  name: 'planner',
  title: 'Plan step by step',
  description:
    'Think a complex task through one step at a time: call it with step 1, then again with each ' +
    'next step and the continuation_id it returned; revise or branch earlier steps as you learn. ' +
    'exai keeps the plan (it survives a daemon restart) and returns it whole after the last step. ' +
    'Calls no model and takes no queue slot. Any consultation tool can continue the plan\'s thread.',
  input,
  async run(args, context) {
    const scope = await openScope(context, args.continuation_id, 1);
    const turn: Omit<ThreadTurn, 'at'> = { role: 'user', tool: 'planner', text: describeStep(args), files: [], step: stepOf(args) };
    const thread = await context.threads.append(scope.thread?.id, scope.workspace, [turn]);

    const steps = current(thread.turns.flatMap((t) => (t.step ? [t.step] : [])));
    const plan = renderPlan(steps);
    const remaining = context.threads.remainingTurns(thread);
    const next = args.next_step_required
      ? `Step ${args.step_number} of ${args.total_steps} recorded. Think about step ${args.step_number + 1}, then call planner with it and this continuation_id.`
      : `The plan is complete (${steps.filter((s) => s.branchId === undefined).length} steps). Present it, then carry it out.`;
    return {
      content: [
        { type: 'text', text: `${next}\n\n${plan}` },
        { type: 'text', text: `continuation_id: ${thread.id} (pass it with the next step; ${remaining} of ${context.threads.maxTurns} turns left)` },
      ],
      structuredContent: {
        continuation_id: thread.id,
        remaining_turns: remaining,
        is_complete: !args.next_step_required,
        steps: steps.map((s) => ({ number: s.number, text: s.text, ...(s.branchId ? { branch_id: s.branchId } : {}) })),
      },
    };
  },
});

function stepOf(args: Args): PlanStep {
  return {
    text: args.step,
    number: args.step_number,
    total: args.total_steps,
    ...(args.revises_step_number === undefined ? {} : { revises: args.revises_step_number }),
    ...(args.branch_from_step === undefined ? {} : { branchFrom: args.branch_from_step }),
    ...(args.branch_id === undefined ? {} : { branchId: args.branch_id }),
  };
}

/** The step as the thread's history shows it to a model that continues the plan. */
function describeStep(args: Args): string {
  const marks = [
    args.revises_step_number === undefined ? '' : ` (revises step ${args.revises_step_number})`,
    args.branch_id === undefined ? '' : ` (branch "${args.branch_id}" from step ${args.branch_from_step ?? '?'})`,
  ].join('');
  return `Plan step ${args.step_number} of ${args.total_steps}${marks}: ${args.step}`;
}

/** The latest version of each step: a revision replaces the step it revises. */
function current(steps: readonly PlanStep[]): PlanStep[] {
  const byKey = new Map<string, PlanStep>();
  for (const step of steps) {
    const number = step.revises ?? step.number;
    byKey.set(`${step.branchId ?? ''}#${number}`, { ...step, number });
  }
  return [...byKey.values()].sort((a, b) => (a.branchId ?? '').localeCompare(b.branchId ?? '') || a.number - b.number);
}

/** The plan as text; `latest` holds each step's latest version (see {@link current}). */
function renderPlan(latest: readonly PlanStep[]): string {
  const main = latest.filter((s) => s.branchId === undefined);
  const branches = [...new Set(latest.flatMap((s) => (s.branchId ? [s.branchId] : [])))];
  const lines = ['Plan:', ...main.map((s) => `${s.number}. ${s.text}`)];
  for (const branch of branches) {
    const own = latest.filter((s) => s.branchId === branch);
    lines.push('', `Branch "${branch}" (from step ${own[0]?.branchFrom ?? '?'}):`, ...own.map((s) => `${s.number}. ${s.text}`));
  }
  return lines.join('\n');
}
