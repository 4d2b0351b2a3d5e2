import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The single-executable asset holding koffi's native module (added by build/build.mjs). */
export const KOFFI_ASSET = 'koffi.node';

/** The asset holding the SHA-256 (hex) of {@link KOFFI_ASSET}, computed at build time. */
export const KOFFI_HASH_ASSET = 'koffi.node.sha256';

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
  provided ??= loadFromAsset();
}

// A .node file can only be loaded from disk. Name it by content hash so that
// builds never share a file, and reuse it on later starts without reading the
// asset. Some machines mount /tmp noexec, so the user's cache dir comes first.
function loadFromAsset(): unknown {
  const sea = createRequire(import.meta.url)('node:sea') as SeaApi;
  const sha256 = sea.getAsset(KOFFI_HASH_ASSET, 'utf8').trim();
  const failures: string[] = [];

  for (const dir of cacheDirs()) {
    try {
      const path = join(dir, `koffi-${sha256.slice(0, 16)}.node`);
      ensurePrivateDir(dir);
      if (!isOwnFile(path)) writeAtomically(path, assetBytes(sea, sha256));
      return dlopen(path);
    } catch (err) {
      failures.push(`${dir}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`Cannot unpack koffi's native module: ${failures.join('; ')}`);
}

function cacheDirs(): string[] {
  const dirs: string[] = [];
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) dirs.push(join(xdg, 'exai'));
  else dirs.push(join(homedir(), '.cache', 'exai'));

  dirs.push(join(tmpdir(), `exai-${process.getuid?.() ?? 'user'}`));
  return dirs;
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

function isOwnedByUs(uid: number): boolean {
  const ours = process.getuid?.();
  return ours === undefined || uid === ours;
}

// Only the first start after an install unpacks the asset; node:crypto is
// loaded here rather than at start-up, where every other start would pay for it.
function assetBytes(sea: SeaApi, sha256: string): Buffer {
  const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  const bytes = Buffer.from(sea.getAsset(KOFFI_ASSET));
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new Error(`asset hash ${actual} is not the built ${sha256}`);
  return bytes;
}

// Rename is atomic: a shim starting at the same moment sees the whole file or none.
function writeAtomically(path: string, bytes: Buffer): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, bytes, { flag: 'wx', mode: 0o700 });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

function dlopen(path: string): unknown {
  const module = { exports: {} };
  process.dlopen(module, path);
  return module.exports;
}
