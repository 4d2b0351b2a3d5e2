import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { createLogger, fileSink } from '../../src/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'exai-log-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function messagesIn(path: string): unknown[][] {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).map((l) => [l.msg, l.how]);
}

test('a file sink writes the lines of one turn together, in order, before the next turn', async () => {
  const path = join(dir, 'turn.log');
  const file = fileSink(path);
  const log = createLogger(file.sink, 'info', 'test');

  log.info('first', { how: 1 });
  log.info('second', { how: 2 });
  assert.equal(readFileSync(path, 'utf8'), '', 'written before the turn ended');

  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(messagesIn(path), [['first', 1], ['second', 2]]);
  file.close();
});

test('closing a file sink writes its pending lines, and drops later ones', () => {
  const path = join(dir, 'close.log');
  const file = fileSink(path);
  file.sink('{"msg":"pending"}\n');
  file.close();
  file.sink('{"msg":"too late"}\n');

  assert.deepEqual(messagesIn(path), [['pending', undefined]]);
});

for (const how of ['exit', 'throw']) {
  test(`a process that ends at once (${how}) still writes its pending lines`, async () => {
    const path = join(dir, `${how}.log`);
    const fixture = fileURLToPath(new URL('../fixtures/log-then-end.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, how], { stdio: 'ignore' });
    await once(child, 'exit');

    assert.deepEqual(messagesIn(path), [['last words', how]]);
  });
}

test('a logged Error keeps its name, message and code; other lines are plain JSON with the fixed fields', () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger((line) => lines.push(JSON.parse(line)), 'info', 'test', { callId: 'c1' });
  const error = Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' });

  log.warn('failed', { error });
  log.info('answered', { ms: 3 });
  log.debug('hidden');

  assert.deepEqual(lines[0]!.error, { name: 'Error', message: 'connect refused', code: 'ECONNREFUSED' });
  assert.deepEqual(
    lines.map(({ time: _time, ...rest }) => rest),
    [
      { level: 'warn', component: 'test', msg: 'failed', callId: 'c1', error: { name: 'Error', message: 'connect refused', code: 'ECONNREFUSED' } },
      { level: 'info', component: 'test', msg: 'answered', callId: 'c1', ms: 3 },
    ],
  );
});
