import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { StatePaths } from './paths.ts';

/** Reads the token from the state dir, creating it (mode 0600) on first use. */
export function readOrCreateToken(paths: StatePaths): string {
  const existing = readToken(paths);
  if (existing) return existing;

  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  try {
    // 'wx': when two processes create it at the same moment, one wins and
    // the other reads the winner's token below.
    writeFileSync(paths.token, token + '\n', { mode: 0o600, flag: 'wx' });
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const winner = readToken(paths);
  if (!winner) throw new Error(`Cannot read the token: ${paths.token} is empty`);
  return winner;
}

/** The token in the state dir, or undefined when there is none yet. */
export function readToken(paths: StatePaths): string | undefined {
  try {
    const text = readFileSync(paths.token, 'utf8').trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Compares two tokens in constant time (hashing first so lengths do not leak). */
export function tokensMatch(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
