import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { acquireDaemonLock } from '../../src/state/daemon-lock.ts';
import { statePaths } from '../../src/state/paths.ts';
import { readOrCreateToken, tokensMatch } from '../../src/state/token.ts';

const dir = mkdtempSync(join(tmpdir(), 'exai-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// A pid that surely belongs to no process: one that just exited.
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('state dir', () => {
  test('only one holder gets the daemon lock while it lives', () => {
    const paths = statePaths(join(dir, 'one'));
    const first = acquireDaemonLock(paths, process.pid);
    const second = acquireDaemonLock(paths, process.pid + 1);

    assert.equal(first.isHeld, true);
    assert.deepEqual(second, { isHeld: false, ownerPid: process.pid });
    if (first.isHeld) first.release();
    assert.equal(acquireDaemonLock(paths, process.pid + 1).isHeld, true);
  });

  test('a lock left by a dead process is taken over silently', () => {
    const paths = statePaths(join(dir, 'stale'));
    acquireDaemonLock(paths, process.pid);
    writeFileSync(paths.lock, `${deadPid()}\n`);

    const taken = acquireDaemonLock(paths, process.pid);

    assert.equal(taken.isHeld, true);
    assert.equal(readFileSync(paths.lock, 'utf8').trim(), String(process.pid));
  });

  test('the token is made once, private, and read back the same', () => {
    const paths = statePaths(join(dir, 'token'));
    const made = readOrCreateToken(paths);
    const again = readOrCreateToken(paths);

    assert.equal(made, again);
    assert.ok(made.length >= 40);
    assert.equal(statSync(paths.token).mode & 0o777, 0o600);
    assert.equal(tokensMatch(made, again), true);
    assert.equal(tokensMatch(made, made + 'x'), false);
  });
});
