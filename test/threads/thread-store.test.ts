import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hasCode } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { ThreadStore } from '../../src/threads/thread-store.ts';

const HOUR_MS = 3_600_000;
const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function setUp(options: { maxTurns?: number; maxIdleMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'exai-threads-'));
  dirs.push(dir);
  const lines: Record<string, unknown>[] = [];
  const log = createLogger((line) => lines.push(JSON.parse(line)), 'debug', 'test');
  const clock = { now: Date.parse('2026-12-03T10:00:00Z') };
  const make = () =>
    new ThreadStore({ dir, maxTurns: options.maxTurns ?? 20, maxIdleMs: options.maxIdleMs ?? 3 * HOUR_MS, log, now: () => clock.now });
  return { dir, lines, clock, store: make(), make };
}

const exchange = (text: string, files: string[] = []) => [
  { role: 'user' as const, tool: 'chat', text, files },
  { role: 'assistant' as const, tool: 'chat', text: `answer to ${text}`, files: [], model: 'glm-4.6' },
];

describe('thread store', () => {
  test('a new thread gets an id and its turns; a second store on the same dir reads it back', async () => {
    const { store, make } = setUp();

    const thread = await store.append(undefined, 'ws-a', exchange('first', ['/repo/a.ts']));

    assert.match(thread.id, /^[0-9a-f-]{36}$/);
    const reread = await make().open(thread.id, 'ws-a', 2);
    assert.deepEqual(reread.turns.map((t) => [t.role, t.text, t.files]), [
      ['user', 'first', ['/repo/a.ts']],
      ['assistant', 'answer to first', []],
    ]);
    assert.equal(reread.turns[1]!.model, 'glm-4.6');
  });

  test('continuing adds turns after the earlier ones', async () => {
    const { store } = setUp();
    const thread = await store.append(undefined, 'ws', exchange('one'));

    const continued = await store.append(thread.id, 'ws', exchange('two'));

    assert.equal(continued.id, thread.id);
    assert.deepEqual(continued.turns.map((t) => t.text), ['one', 'answer to one', 'two', 'answer to two']);
    assert.equal(store.remainingTurns(continued), 16);
  });

  test('another workspace cannot open or continue the thread', async () => {
    const { store } = setUp();
    const thread = await store.append(undefined, 'ws-a', exchange('private'));

    await assert.rejects(store.open(thread.id, 'ws-b', 2), (err) => hasCode(err, 'WRONG_WORKSPACE'));
    await assert.rejects(store.append(thread.id, 'ws-b', exchange('intruder')), (err) => hasCode(err, 'WRONG_WORKSPACE'));
    assert.equal((await store.open(thread.id, 'ws-a', 2)).turns.length, 2);
  });

  test('a thread takes no more than maxTurns turns', async () => {
    const { store } = setUp({ maxTurns: 4 });
    const thread = await store.append(undefined, 'ws', exchange('one'));
    await store.append(thread.id, 'ws', exchange('two'));

    await assert.rejects(store.open(thread.id, 'ws', 2), (err) => hasCode(err, 'THREAD_FULL') && /4 of 4 turns/.test(err.message));
    await assert.rejects(store.append(thread.id, 'ws', exchange('three')), (err) => hasCode(err, 'THREAD_FULL'));
  });

  test('a thread idle longer than maxIdleMs has expired and its file is removed', async () => {
    const { store, clock, dir } = setUp({ maxIdleMs: 3 * HOUR_MS });
    const thread = await store.append(undefined, 'ws', exchange('old'));

    clock.now += 3 * HOUR_MS - 1;
    await store.open(thread.id, 'ws', 2);
    clock.now += 2;

    await assert.rejects(store.open(thread.id, 'ws', 2), (err) => hasCode(err, 'THREAD_NOT_FOUND') && /expired after 3 h/.test(err.message));
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a new turn resets the idle time', async () => {
    const { store, clock } = setUp({ maxIdleMs: 3 * HOUR_MS });
    const thread = await store.append(undefined, 'ws', exchange('one'));
    clock.now += 2 * HOUR_MS;
    await store.append(thread.id, 'ws', exchange('two'));
    clock.now += 2 * HOUR_MS;

    assert.equal((await store.open(thread.id, 'ws', 2)).turns.length, 4);
  });

  test('unknown ids and ids that are not thread ids are THREAD_NOT_FOUND', async () => {
    const { store } = setUp();

    await assert.rejects(store.open('3f1c2b9e-0000-4000-8000-000000000000', 'ws', 2), (err) => hasCode(err, 'THREAD_NOT_FOUND'));
    await assert.rejects(store.open('../../etc/passwd', 'ws', 2), (err) => hasCode(err, 'THREAD_NOT_FOUND') && /not a continuation_id/.test(err.message));
  });

  test('a corrupt record is skipped and logged, and the store goes on serving', async () => {
    const { store, dir, lines } = setUp();
    const good = await store.append(undefined, 'ws', exchange('good'));
    const bad = await store.append(undefined, 'ws', exchange('bad'));
    writeFileSync(join(dir, `${bad.id}.json`), '{"version":1,"id":"trunc');

    await assert.rejects(store.open(bad.id, 'ws', 2), (err) => hasCode(err, 'THREAD_NOT_FOUND'));
    assert.ok(lines.some((l) => l.msg === 'thread record corrupt, skipped' && l.thread === bad.id));
    assert.equal((await store.open(good.id, 'ws', 2)).turns.length, 2);
    assert.equal(await store.sweep(), 0);
  });

  test('concurrent continuations of one thread both land', async () => {
    const { store } = setUp();
    const thread = await store.append(undefined, 'ws', exchange('start'));

    await Promise.all([store.append(thread.id, 'ws', exchange('a')), store.append(thread.id, 'ws', exchange('b'))]);

    const texts = (await store.open(thread.id, 'ws', 0)).turns.filter((t) => t.role === 'user').map((t) => t.text);
    assert.deepEqual(texts.sort(), ['a', 'b', 'start']);
  });

  test('records are written whole: no temporary file is left and the file is private', async () => {
    const { store, dir } = setUp();
    const thread = await store.append(undefined, 'ws', exchange('x'));

    assert.deepEqual(readdirSync(dir), [`${thread.id}.json`]);
    assert.equal(JSON.parse(readFileSync(join(dir, `${thread.id}.json`), 'utf8')).version, 1);
  });

  test('sweep removes expired threads and stale temporary files, and keeps live ones', async () => {
    const { store, clock, dir } = setUp({ maxIdleMs: HOUR_MS });
    const old = await store.append(undefined, 'ws', exchange('old'));
    clock.now += HOUR_MS / 2;
    const live = await store.append(undefined, 'ws', exchange('live'));
    const temp = join(dir, 'x.json.123.abc.tmp');
    writeFileSync(temp, '{');
    const longAgo = new Date(clock.now - 10 * 60_000);
    utimesSync(temp, longAgo, longAgo);
    clock.now += HOUR_MS * 0.75;

    assert.equal(await store.sweep(), 1);

    assert.deepEqual(readdirSync(dir), [`${live.id}.json`]);
    await assert.rejects(store.open(old.id, 'ws', 0), (err) => hasCode(err, 'THREAD_NOT_FOUND'));
  });
});
