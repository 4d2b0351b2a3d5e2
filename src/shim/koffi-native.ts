import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The single-executable asset holding koffi's native module (added by build/build.mjs). */
export const KOFFI_ASSET = 'koffi.node';

/** The asset holding the SHA-256 (hex) of {@link KOFFI_ASSET}, computed at build time. */
export const KOFFI_HASH_ASSET = 'koffi.node.sha256';

/** A native module to unpack: its hash is known without reading its bytes. */
export interface NativeSource {
  /** SHA-256 of the module, in hex. */
  sha256(): string;
  /** The module itself. */
  bytes(): Buffer;
}

/** Loads a native module file; `process.dlopen` outside tests. */
export type NativeLoader = (path: string) => unknown;

interface SeaApi {
  getAsset(key: string): ArrayBuffer;
  getAsset(key: string, encoding: string): string;
}

let provided: unknown = null;

/**
 * The native module {@link provideKoffiNative} loaded, or null. Inside the
 * single executable the build points koffi's `@koromix/koffi-<platform>`
 * requires here, so koffi's own JS wraps the module we loaded.
 */
export function providedKoffiNative(): unknown {
  return provided;
}

/** Writes koffi's native module from the single executable to a private cache dir and loads it. */
export function provideKoffiNative(): void {
  provided ??= unpackNative(seaSource(), cacheDirs());
}

/**
 * Loads the module from the first of `dirs` that is usable, writing it there
 * first unless an earlier start did. Throws with every dir's reason when
 * none is usable.
 *
 * A .node file can only be loaded from disk. It is named by content hash so
 * that builds never share a file, and later starts reuse it without reading
 * (or hashing) the module's bytes.
 */
export function unpackNative(source: NativeSource, dirs: string[], load: NativeLoader = dlopen): unknown {
  const sha256 = source.sha256();
  const failures: string[] = [];

  for (const dir of dirs) {
    try {
      const path = join(dir, `koffi-${sha256.slice(0, 16)}.node`);
      ensurePrivateDir(dir);
      if (!isOwnFile(path)) writeAtomically(path, checkedBytes(source, sha256));
      return load(path);
    } catch (err) {
      failures.push(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`Cannot unpack koffi's native module: ${failures.join('; ')}`);
}

/** The cache dirs to try, in order: the user's own first, some machines mount /tmp noexec. */
export function cacheDirs(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string[] {
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA && isAbsolute(env.LOCALAPPDATA) ? env.LOCALAPPDATA : join(homedir(), 'AppData', 'Local');
    return [join(local, 'exai', 'cache'), join(tmpdir(), 'exai')];
  }

  const xdg = env.XDG_CACHE_HOME;
  const userCache = xdg && isAbsolute(xdg) ? join(xdg, 'exai') : join(homedir(), '.cache', 'exai');
  return [userCache, join(tmpdir(), `exai-${process.getuid?.() ?? 'user'}`)];
}

function seaSource(): NativeSource {
  const sea = createRequire(import.meta.url)('node:sea') as SeaApi;
  return {
    sha256: () => sea.getAsset(KOFFI_HASH_ASSET, 'utf8').trim(),
    bytes: () => Buffer.from(sea.getAsset(KOFFI_ASSET)),
  };
}

// The dir may already exist, made by someone else in a shared /tmp: use it
// only when it is ours, and keep others out of it.
function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new Error('not a directory');
  if (!isOwnedByUs(stat.uid)) throw new Error(`owned by uid ${stat.uid}`);
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function isOwnFile(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isFile() && isOwnedByUs(stat.uid);
  } catch {
    return false;
  }
}

// Windows has no uid (getuid is missing there); its per-user dirs are
// private through their ACLs.
function isOwnedByUs(uid: number): boolean {
  const ours = process.getuid?.();
  return ours === undefined || uid === ours;
}

// Only the first start after an install gets here; node:crypto is loaded
// now rather than at start-up, where every other start would pay for it.
function checkedBytes(source: NativeSource, sha256: string): Buffer {
  const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  const bytes = source.bytes();
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new Error(`asset hash ${actual} is not the built ${sha256}`);
  return bytes;
}

// Rename is atomic: a shim starting at the same moment sees the whole file or
// none. On Windows the rename fails while another shim has the file it just
// put in place loaded; that file is as good as ours.
function writeAtomically(path: string, bytes: Buffer): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, bytes, { flag: 'wx', mode: 0o700 });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    if (!isOwnFile(path)) throw err;
  }
}

function dlopen(path: string): unknown {
  const module = { exports: {} };
  process.dlopen(module, path);
  return module.exports;
}
