import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hasCode } from '../../src/errors.ts';
import { readGitDiff } from '../../src/workspace/git-diff.ts';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
}

/** A repository with one commit of `app.ts`, then a staged and an unstaged change. */
function setUp(): string {
  const repo = realpathSync(mkdtempSync(join(tmpdir(), 'exai-git-')));
  dirs.push(repo);
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.email', 'test@example.invalid');
  git(repo, 'config', 'user.name', 'exai test');
  writeFileSync(join(repo, 'app.ts'), 'export const version = 1;\n');
  writeFileSync(join(repo, 'util.ts'), 'export const util = 1;\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  writeFileSync(join(repo, 'app.ts'), 'export const version = 2;\n');
  git(repo, 'add', 'app.ts');
  writeFileSync(join(repo, 'util.ts'), 'export const util = 2;\n');
  writeFileSync(join(repo, 'new.ts'), 'export {};\n');
  return repo;
}

describe('git diff', () => {
  test('staged and unstaged changes come as separate sections, with untracked files listed', async () => {
    const repo = setUp();

    const diff = await readGitDiff({ path: repo, includeStaged: true, includeUnstaged: true });

    assert.equal(diff.repository, repo);
    assert.deepEqual(diff.sections.map((s) => s.title), ['staged changes', 'unstaged changes']);
    assert.match(diff.sections[0]!.diff, /\+export const version = 2;/);
    assert.doesNotMatch(diff.sections[0]!.diff, /util/);
    assert.match(diff.sections[1]!.diff, /\+export const util = 2;/);
    assert.deepEqual(diff.untracked, ['new.ts']);
  });

  test('only the kinds asked for are read', async () => {
    const repo = setUp();

    const staged = await readGitDiff({ path: repo, includeStaged: true, includeUnstaged: false });

    assert.deepEqual(staged.sections.map((s) => s.title), ['staged changes']);
  });

  test('against a ref the working tree is compared with that commit', async () => {
    const repo = setUp();

    const diff = await readGitDiff({ path: join(repo), compareTo: 'HEAD', includeStaged: false, includeUnstaged: false });

    assert.deepEqual(diff.sections.map((s) => s.title), ['changes against HEAD']);
    assert.match(diff.sections[0]!.diff, /version = 2/);
    assert.match(diff.sections[0]!.diff, /util = 2/);
  });

  test('a ref that looks like an option or does not exist is refused', async () => {
    const repo = setUp();

    await assert.rejects(
      readGitDiff({ path: repo, compareTo: '--output=/tmp/x', includeStaged: true, includeUnstaged: true }),
      (err) => hasCode(err, 'GIT_FAILED') && /not a git ref/.test(err.message),
    );
    await assert.rejects(
      readGitDiff({ path: repo, compareTo: 'no-such-branch', includeStaged: true, includeUnstaged: true }),
      (err) => hasCode(err, 'GIT_FAILED') && /"no-such-branch" is not a commit/.test(err.message),
    );
  });

  test('a directory outside any repository is a clear error', async () => {
    const plain = realpathSync(mkdtempSync(join(tmpdir(), 'exai-nogit-')));
    dirs.push(plain);
    mkdirSync(join(plain, 'sub'));

    await assert.rejects(
      readGitDiff({ path: join(plain, 'sub'), includeStaged: true, includeUnstaged: true }),
      (err) => hasCode(err, 'GIT_FAILED') && /not a git repository/.test(err.message),
    );
  });
});
