import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { cleanUp, runExai } from '../support/exai-processes.ts';

after(cleanUp);

// What `npm start` shows a new user, run as they would run it.
test('exai demo runs the two clients\' calls one after the other and cleans up after itself', async () => {
  const demoDirs = () => new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('exai-demo-')));
  const before = demoDirs();

  const run = await runExai(['demo']);

  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /client A {2}calls chat\(/);
  assert.match(run.stdout, /client B {2}calls chat\(/);
  assert.equal(run.stdout.match(/got its answer: /g)?.length, 2, run.stdout);
  assert.match(run.stdout, /summary {3}the second call started \d+ ms after the first ended: never both at once/);
  const left = [...demoDirs()].filter((name) => !before.has(name));
  assert.deepEqual(left, [], 'the demo removes its state dir');
});
