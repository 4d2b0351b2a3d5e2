import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { acquireDaemonLock } from '../../src/state/daemon-lock.ts';
import { statePaths } from '../../src/state/paths.ts';
import { readOrCreateToken, tokensMatch } from '../../src/state/token.ts';
import { typeScriptRunner } from '../support/runtime.ts';

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

  test('of eight processes racing over a stale lock exactly one takes it', async () => {
    const stateDir = join(dir, 'race');
    const paths = statePaths(stateDir);
    acquireDaemonLock(paths, process.pid);
    writeFileSync(paths.lock, `${deadPid()}\n`);
    const fixture = fileURLToPath(new URL('../fixtures/take-lock.ts', import.meta.url));

    // Every racer stays alive until all have answered, so no lock is stale twice.
    const [runner, ...runnerArgs] = typeScriptRunner();
    const racers = Array.from({ length: 8 }, () =>
      spawn(runner, [...runnerArgs, fixture, stateDir], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    const outcomes = await Promise.all(
      racers.map(async (child) => {
        const [line] = await once(child.stdout.setEncoding('utf8'), 'data');
        return String(line).trim();
      }),
    );
    for (const child of racers) child.stdin.end();

    assert.equal(outcomes.filter((o) => o === 'held').length, 1, outcomes.join(' '));
    assert.equal(outcomes.filter((o) => o === 'refused').length, 7);
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
