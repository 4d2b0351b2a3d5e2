import { execFile } from 'node:child_process';
import { ExaiError } from '../errors.ts';

/** Which changes of a repository to read. */
export interface DiffRequest {
  /** A directory inside the repository (already checked against the roots). */
  path: string;
  /** A ref to compare the working tree with; when set, the staged/unstaged choice is moot. */
  compareTo?: string;
  includeStaged: boolean;
  includeUnstaged: boolean;
  signal?: AbortSignal;
}

/** One part of the changes, as `git diff` printed it. */
export interface DiffSection {
  title: string;
  diff: string;
}

/** The changes of one repository. */
export interface RepositoryDiff {
  repository: string;
  sections: DiffSection[];
  /** Files git does not track yet (not in any diff). */
  untracked: string[];
}

// Large enough for any diff a model could take; the caller checks the budget.
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
// A ref is one word that is not an option: `--output=...` must never reach git.
const REF_PATTERN = /^[^-\s][^\s]*$/;

/** Reads staged, unstaged or ref-relative changes with `git diff`; throws GIT_FAILED. */
export async function readGitDiff(request: DiffRequest): Promise<RepositoryDiff> {
  const repository = (await git(request, ['rev-parse', '--show-toplevel'], request.path)).trim();
  const common = ['diff', '--no-color', '--no-ext-diff', '--no-textconv'];
  const sections: DiffSection[] = [];

  if (request.compareTo !== undefined) {
    const ref = request.compareTo;
    if (!REF_PATTERN.test(ref)) {
      throw new ExaiError('GIT_FAILED', `Cannot compare with "${ref}": that is not a git ref`, { facts: { ref } });
    }
    await git(request, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], repository, `"${ref}" is not a commit in ${repository}`);
    sections.push({ title: `changes against ${ref}`, diff: await git(request, [...common, ref, '--'], repository) });
  } else {
    if (request.includeStaged) {
      sections.push({ title: 'staged changes', diff: await git(request, [...common, '--cached', '--'], repository) });
    }
    if (request.includeUnstaged) {
      sections.push({ title: 'unstaged changes', diff: await git(request, [...common, '--'], repository) });
    }
  }

  const untracked = (await git(request, ['ls-files', '--others', '--exclude-standard'], repository))
    .split('\n')
    .filter((line) => line !== '');
  return { repository, sections: sections.filter((s) => s.diff.trim() !== ''), untracked };
}

function git(request: DiffRequest, args: string[], cwd: string, failure?: string): Promise<string> {
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' };
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['-c', 'core.quotepath=off', ...args],
      { cwd, env, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8', ...(request.signal ? { signal: request.signal } : {}) },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        if (request.signal?.aborted) return reject(request.signal.reason);
        const code = (error as NodeJS.ErrnoException).code;
        const said = stderr.trim().split('\n')[0] ?? '';
        const reason =
          failure ??
          (code === 'ENOENT' ? 'git is not installed or not on PATH' : said || error.message);
        reject(new ExaiError('GIT_FAILED', `Cannot read the changes of ${request.path}: ${reason}`, { facts: { path: request.path }, cause: error }));
      },
    );
  });
}
