import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ExaiError } from '../errors.ts';

/**
 * The directories a call may read, resolved through symbolic links, so that a
 * link inside a root cannot lead a read outside it.
 */
export class AllowedRoots {
  readonly #roots: readonly string[];
  readonly #isCaseBlind: boolean;

  private constructor(roots: readonly string[], isCaseBlind: boolean) {
    this.#roots = roots;
    this.#isCaseBlind = isCaseBlind;
  }

  /** Resolves `roots` (absolute directories); roots that do not exist are left out. */
  static async of(roots: readonly string[], platform: NodeJS.Platform = process.platform): Promise<AllowedRoots> {
    const real = await Promise.all(roots.map((root) => realpath(resolve(root)).catch(() => undefined)));
    const unique = [...new Set(real.filter((root): root is string => root !== undefined))];
    return new AllowedRoots(unique, platform === 'win32' || platform === 'darwin');
  }

  /** True when the real path `path` lies inside one of the roots (or is one). */
  contains(path: string): boolean {
    return this.#roots.some((root) => isWithin(this.#fold(root), this.#fold(path)));
  }

  /**
   * The real path of `path`, checked: absolute, existing, inside the roots.
   * Throws PATH_OUTSIDE_ROOTS or FILE_UNREADABLE.
   */
  async check(path: string): Promise<string> {
    if (!isAbsolute(path)) {
      throw new ExaiError('PATH_OUTSIDE_ROOTS', `Cannot read "${path}": paths must be absolute`, { facts: { path } });
    }
    if (this.#roots.length === 0) {
      throw new ExaiError(
        'PATH_OUTSIDE_ROOTS',
        `Cannot read "${path}": no directory is allowed: the client offered no MCP roots and the daemon has no --root (EXAI_ROOTS)`,
        { facts: { path } },
      );
    }

    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message;
      throw new ExaiError('FILE_UNREADABLE', `Cannot read "${path}": ${reason}`, { facts: { path }, cause: err });
    }
    if (!this.contains(real)) {
      throw new ExaiError(
        'PATH_OUTSIDE_ROOTS',
        `Cannot read "${path}": it is outside the allowed roots (${this.#roots.join(', ')})`,
        { facts: { path, roots: this.#roots } },
      );
    }
    return real;
  }

  #fold(path: string): string {
    return this.#isCaseBlind ? path.toLowerCase() : path;
  }
}

/**
 * A short stable name for a set of roots: threads started in one workspace
 * can be continued only from a session with the same roots.
 */
export function workspaceKey(roots: readonly string[]): string {
  const sorted = [...new Set(roots.map((root) => resolve(root)))].sort();
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}

function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  const isAbove = rel === '..' || rel.startsWith(`..${sep}`);
  return !isAbove && !isAbsolute(rel);
}
