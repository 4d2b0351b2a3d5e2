import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hasCode } from '../../src/errors.ts';
import { embedFiles } from '../../src/workspace/file-embedder.ts';
import { AllowedRoots, workspaceKey } from '../../src/workspace/roots.ts';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A project dir inside a fresh temp dir, and a sibling dir outside it. */
function setUp() {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'exai-files-')));
  dirs.push(base);
  const project = join(base, 'project');
  const outside = join(base, 'outside');
  mkdirSync(join(project, 'src', 'deep'), { recursive: true });
  mkdirSync(join(project, '.git'));
  mkdirSync(join(project, 'node_modules', 'lib'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(project, 'src', 'a.ts'), 'const a = 1;\nexport { a };\n');
  writeFileSync(join(project, 'src', 'deep', 'b.ts'), 'export const b = 2;\n');
  writeFileSync(join(project, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(project, 'node_modules', 'lib', 'index.js'), 'module.exports = 1;\n');
  writeFileSync(join(outside, 'secret.txt'), 'top secret\n');
  return { project, outside };
}

const BIG_BUDGET = 1_000_000;

describe('allowed roots', () => {
  test('a path inside a root passes and comes back as its real path', async () => {
    const { project } = setUp();
    const roots = await AllowedRoots.of([project]);

    assert.equal(await roots.check(join(project, 'src', '..', 'src', 'a.ts')), join(project, 'src', 'a.ts'));
  });

  test('a path outside every root, relative, or missing is refused with the reason', async () => {
    const { project, outside } = setUp();
    const roots = await AllowedRoots.of([project]);

    await assert.rejects(roots.check(join(outside, 'secret.txt')), (err) => hasCode(err, 'PATH_OUTSIDE_ROOTS') && err.message.includes(project));
    await assert.rejects(roots.check('src/a.ts'), (err) => hasCode(err, 'PATH_OUTSIDE_ROOTS') && /absolute/.test(err.message));
    await assert.rejects(roots.check(join(project, 'nope.ts')), (err) => hasCode(err, 'FILE_UNREADABLE') && /does not exist/.test(err.message));
  });

  test('a symbolic link inside a root that leads outside it is refused', async () => {
    const { project, outside } = setUp();
    symlinkSync(join(outside, 'secret.txt'), join(project, 'link.txt'));
    const roots = await AllowedRoots.of([project]);

    await assert.rejects(roots.check(join(project, 'link.txt')), (err) => hasCode(err, 'PATH_OUTSIDE_ROOTS'));
  });

  test('a sibling whose name starts with the root\'s name is not inside it', async () => {
    const { project } = setUp();
    mkdirSync(`${project}-other`);
    writeFileSync(join(`${project}-other`, 'x.ts'), 'x');
    const roots = await AllowedRoots.of([project]);

    await assert.rejects(roots.check(join(`${project}-other`, 'x.ts')), (err) => hasCode(err, 'PATH_OUTSIDE_ROOTS'));
  });

  test('with no roots at all every path is refused, naming how to allow one', async () => {
    const { project } = setUp();
    const roots = await AllowedRoots.of([]);

    await assert.rejects(roots.check(join(project, 'src', 'a.ts')), (err) => hasCode(err, 'PATH_OUTSIDE_ROOTS') && /--root/.test(err.message));
  });

  test('the workspace key depends on the set of roots, not their order', () => {
    assert.equal(workspaceKey(['/a', '/b']), workspaceKey(['/b', '/a', '/a']));
    assert.notEqual(workspaceKey(['/a']), workspaceKey(['/a', '/b']));
    assert.notEqual(workspaceKey([]), workspaceKey(['/a']));
  });
});

describe('file embedder', () => {
  test('files are embedded with numbered lines, directories walked without hidden and dependency folders', async () => {
    const { project } = setUp();
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [project], earlier: [], roots, budgetChars: BIG_BUDGET });

    assert.deepEqual(embedding.files, [join(project, 'src', 'a.ts'), join(project, 'src', 'deep', 'b.ts')]);
    assert.deepEqual(embedding.requestedFiles, embedding.files);
    assert.match(embedding.text, /--- BEGIN FILE: .*a\.ts \(2 lines\) ---\n1\| const a = 1;\n2\| export \{ a \};\n--- END FILE/);
    assert.doesNotMatch(embedding.text, /refs\/heads|module\.exports/);
  });

  test('a binary file is skipped with a note, not embedded', async () => {
    const { project } = setUp();
    writeFileSync(join(project, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01]));
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [join(project, 'logo.png'), join(project, 'src', 'a.ts')], earlier: [], roots, budgetChars: BIG_BUDGET });

    assert.deepEqual(embedding.files, [join(project, 'src', 'a.ts')]);
    assert.deepEqual(embedding.skipped, [{ path: join(project, 'logo.png'), reason: 'skipped: binary file' }]);
  });

  test('files of this call over the budget fail the call instead of being cut', async () => {
    const { project } = setUp();
    writeFileSync(join(project, 'big.txt'), 'x'.repeat(5_000));
    const roots = await AllowedRoots.of([project]);

    await assert.rejects(
      embedFiles({ requested: [join(project, 'big.txt')], earlier: [], roots, budgetChars: 1_000 }),
      (err) => hasCode(err, 'CONTEXT_TOO_LARGE') && /over this call's budget of 1,000/.test(err.message),
    );
  });

  test('earlier files are added newest first while they fit; the rest are listed as left out', async () => {
    const { project } = setUp();
    const older = join(project, 'older.txt');
    const newer = join(project, 'newer.txt');
    writeFileSync(older, 'o'.repeat(300));
    writeFileSync(newer, 'n'.repeat(300));
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [], earlier: [newer, older], roots, budgetChars: 500 });

    assert.deepEqual(embedding.files, [newer]);
    assert.deepEqual(embedding.requestedFiles, []);
    assert.equal(embedding.skipped.length, 1);
    assert.equal(embedding.skipped[0]!.path, older);
    assert.match(embedding.skipped[0]!.reason, /over the budget/);
  });

  test('a file named both now and earlier is embedded once', async () => {
    const { project } = setUp();
    const a = join(project, 'src', 'a.ts');
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [a], earlier: [a], roots, budgetChars: BIG_BUDGET });

    assert.deepEqual(embedding.files, [a]);
    assert.equal(embedding.text.split('BEGIN FILE').length - 1, 1);
  });

  test('an earlier file that is gone is noted, not fatal', async () => {
    const { project } = setUp();
    const gone = join(project, 'gone.ts');
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [], earlier: [gone], roots, budgetChars: BIG_BUDGET });

    assert.deepEqual(embedding.files, []);
    assert.match(embedding.skipped[0]!.reason, /does not exist/);
  });

  test('a link inside a walked directory that leads outside the roots is skipped with a note', async () => {
    const { project, outside } = setUp();
    symlinkSync(join(outside, 'secret.txt'), join(project, 'src', 'escape.txt'));
    const roots = await AllowedRoots.of([project]);

    const embedding = await embedFiles({ requested: [join(project, 'src')], earlier: [], roots, budgetChars: BIG_BUDGET });

    assert.doesNotMatch(embedding.text, /top secret/);
    assert.deepEqual(embedding.skipped.map((s) => s.reason), ['skipped: a link to outside the allowed roots']);
  });
});
