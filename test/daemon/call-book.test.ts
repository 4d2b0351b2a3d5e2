import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallBook } from '../../src/daemon/call-book.ts';

describe('call book', () => {
  test('counts the calls each session holds as they open and close', () => {
    const book = new CallBook(() => 0);
    const a1 = book.open('a', 'A', 'chat');
    const a2 = book.open('a', 'A', 'chat');
    book.open('b', 'B', 'chat');
    a2.state = 'queued';

    assert.equal(book.heldBy('a'), 2);
    assert.deepEqual(book.countFor('a'), { running: 1, queued: 1 });
    assert.equal(book.heldBy('b'), 1);

    book.close(a1);
    book.close(a1);
    book.close(a2);

    assert.equal(book.heldBy('a'), 0);
    assert.deepEqual(book.countFor('a'), { running: 0, queued: 0 });
    assert.equal(book.size, 1);
  });

  test('lists calls oldest first with their age', () => {
    let now = 100;
    const book = new CallBook(() => now);
    book.open('a', 'A', 'chat');
    now = 150;
    const second = book.open('b', 'B', 'debug');
    second.provider = 'glm';
    now = 200;

    assert.deepEqual(book.list().map((c) => [c.session, c.tool, c.ageMs, c.provider]), [
      ['A', 'chat', 100, undefined],
      ['B', 'debug', 50, 'glm'],
    ]);
  });
});
