import { z } from 'zod';
import { ExaiError } from '../errors.ts';
import { readGitDiff } from '../workspace/git-diff.ts';
import { defineConsultation } from './consultation.ts';
import { PRECOMMIT_SYSTEM_PROMPT } from './prompts/precommit.ts';

/** `precommit`: reviews a repository's pending changes, read with `git diff`, before a commit. */
export const precommitTool = defineConsultation({
  name: 'precommit',
  title: 'Review changes before commit',
  description:
    'Before committing, have another model check the pending changes of a git repository: the ' +
    'daemon reads `git diff` of `path` (staged and unstaged changes by default, or against ' +
    '`compare_to`, a branch, tag or commit). Say in `prompt` what the change is meant to do. ' +
    'Pass `files` to add whole files for context.',
  systemPrompt: PRECOMMIT_SYSTEM_PROMPT,
  shape: {
    path: z.string().min(1).describe('Absolute path of the repository (or a directory inside it); must be inside the allowed roots'),
    compare_to: z.string().min(1).optional().describe('A ref to compare the working tree with (e.g. main, HEAD~1); overrides the staged/unstaged choice'),
    include_staged: z.boolean().default(true).describe('Include staged changes (default true)'),
    include_unstaged: z.boolean().default(true).describe('Include unstaged changes (default true)'),
  },
  request: (args) => `What the change is meant to do:\n${args.prompt}`,
  async gather(args, scope) {
    const path = await scope.roots.check(args.path);
    const diff = await readGitDiff({
      path,
      ...(args.compare_to === undefined ? {} : { compareTo: args.compare_to }),
      includeStaged: args.include_staged,
      includeUnstaged: args.include_unstaged,
      signal: scope.signal,
    });
    if (diff.sections.length === 0) {
      const which = args.compare_to === undefined ? kinds(args.include_staged, args.include_unstaged) : `changes against ${args.compare_to}`;
      throw new ExaiError('NO_CHANGES', `Cannot review ${diff.repository}: it has no ${which}`, { facts: { repository: diff.repository } });
    }

    const sections = diff.sections.map((s) => `=== GIT DIFF: ${s.title} in ${diff.repository} ===\n${s.diff}`);
    if (diff.untracked.length > 0) sections.push(`Untracked files (not in the diff):\n${diff.untracked.join('\n')}`);
    const chars = sections.reduce((sum, s) => sum + s.length, 0);
    if (chars > scope.budgetChars) {
      throw new ExaiError(
        'CONTEXT_TOO_LARGE',
        `Cannot review ${diff.repository}: the diff takes ${chars.toLocaleString('en')} characters, over the model's budget of ${scope.budgetChars.toLocaleString('en')}; review a smaller range (compare_to, or staged only) or choose a model with a larger context window`,
        { facts: { usedChars: chars, budgetChars: scope.budgetChars } },
      );
    }
    return sections;
  },
});

function kinds(staged: boolean, unstaged: boolean): string {
  if (staged && unstaged) return 'staged or unstaged changes';
  if (staged) return 'staged changes';
  if (unstaged) return 'unstaged changes';
  return 'changes selected (include_staged and include_unstaged are both false)';
}
