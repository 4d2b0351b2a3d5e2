import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { linkSignals } from '../../src/daemon/linked-signal.ts';

test('a linked signal aborts with the reason of the first source that aborts', () => {
  const first = new AbortController();
  const second = new AbortController();
  const link = linkSignals([first.signal, second.signal]);

  second.abort('second went');
  first.abort('first went');

  assert.equal(link.signal.aborted, true);
  assert.equal(link.signal.reason, 'second went');
});

test('a linked signal of an already aborted source is aborted at once', () => {
  const link = linkSignals([new AbortController().signal, AbortSignal.abort('was gone')]);

  assert.equal(link.signal.aborted, true);
  assert.equal(link.signal.reason, 'was gone');
});

test('a disposed linked signal leaves its sources with no listener and no longer follows them', () => {
  const source = new AbortController();
  const link = linkSignals([source.signal]);
  assert.equal(getEventListeners(source.signal, 'abort').length, 1);

  link.dispose();
  source.abort('too late');

  assert.equal(getEventListeners(source.signal, 'abort').length, 0);
  assert.equal(link.signal.aborted, false);
});

test('a long-lived source keeps nothing of many linked signals once each is disposed', () => {
  const daemonLife = new AbortController();
  for (let i = 0; i < 10_000; i++) linkSignals([new AbortController().signal, daemonLife.signal]).dispose();

  assert.equal(getEventListeners(daemonLife.signal, 'abort').length, 0);
});
