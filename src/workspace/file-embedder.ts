import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ExaiError, messageOf } from '../errors.ts';
import type { AllowedRoots } from './roots.ts';

/** What to embed for one model request. */
export interface EmbedRequest {
  /** Paths the call names: each must be readable and inside the roots, and all must fit. */
  requested: readonly string[];
  /** Paths of earlier turns, newest first: embedded while they fit, the rest listed as left out. */
  earlier: readonly string[];
  roots: AllowedRoots;
  /** Characters the file blocks may take in all. */
  budgetChars: number;
  signal?: AbortSignal;
}

/** A file that was not embedded, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

/** The embedded files as one block of text, with what was left out. */
export interface Embedding {
  text: string;
  /** Every embedded file, this call's first. */
  files: string[];
  /** The files this call's paths named, directories expanded: what a thread records. */
  requestedFiles: string[];
  skipped: SkippedFile[];
}

// A directory walk stops here: past it, the caller meant a narrower path.
const MAX_FILES_PER_DIRECTORY = 1_000;
// Bytes looked at to tell text from binary.
const SNIFF_BYTES = 8_192;
// Entries a walk passes over: tool and dependency folders nobody means to send a model.
const SKIPPED_IN_WALK = new Set(['node_modules', '__pycache__']);

/**
 * Reads files for a model request. The call's own paths must fit in the
 * budget or the call fails (never a silent truncation); files of earlier turns
 * are added newest first while they fit. Binary files are skipped with a note.
 */
export async function embedFiles(request: EmbedRequest): Promise<Embedding> {
  const skipped: SkippedFile[] = [];
  const requestedFiles = await expand(request.requested, request.roots, skipped);

  const blocks: string[] = [];
  const files: string[] = [];
  let used = 0;
  for (const path of requestedFiles) {
    request.signal?.throwIfAborted();
    // A UTF-8 character takes at most 4 bytes: a file this big cannot fit, so do not read it.
    const { size } = await stat(path);
    if (used + size / 4 > request.budgetChars) throw tooLarge(used + size, request.budgetChars, files.length + 1);
    const block = await readBlock(path, skipped);
    if (block === undefined) continue;
    used += block.length;
    blocks.push(block);
    files.push(path);
  }
  if (used > request.budgetChars) throw tooLarge(used, request.budgetChars, files.length);

  const seen = new Set(requestedFiles);
  for (const path of request.earlier) {
    if (seen.has(path)) continue;
    seen.add(path);
    const block = await earlierBlock(path, request.roots, skipped);
    if (block === undefined) continue;
    if (used + block.length > request.budgetChars) {
      skipped.push({ path, reason: 'left out: over the budget, older than the files that fit' });
      continue;
    }
    used += block.length;
    blocks.push(block);
    files.push(path);
  }

  return { text: blocks.join('\n'), files, requestedFiles: requestedFiles.filter((p) => files.includes(p)), skipped };
}

/** The call's paths as files: checked against the roots, directories walked, duplicates dropped. */
async function expand(paths: readonly string[], roots: AllowedRoots, skipped: SkippedFile[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const real = await roots.check(path);
    const info = await stat(real);
    if (info.isDirectory()) files.push(...(await walk(real, roots, skipped)));
    else if (info.isFile()) files.push(real);
    else skipped.push({ path, reason: 'skipped: not a regular file' });
  }
  return [...new Set(files)];
}

async function walk(dir: string, roots: AllowedRoots, skipped: SkippedFile[]): Promise<string[]> {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.shift()!;
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      // Hidden entries (.git, .venv, .env) are passed over unless named on their own.
      if (entry.name.startsWith('.') || SKIPPED_IN_WALK.has(entry.name)) continue;
      const path = join(current, entry.name);
      const real = entry.isSymbolicLink() ? await realpath(path).catch(() => undefined) : path;
      if (real === undefined) continue;
      if (!roots.contains(real)) {
        skipped.push({ path, reason: 'skipped: a link to outside the allowed roots' });
        continue;
      }
      const info = await stat(real);
      if (info.isDirectory()) pending.push(real);
      else if (info.isFile()) found.push(real);
      if (found.length > MAX_FILES_PER_DIRECTORY) {
        throw new ExaiError(
          'CONTEXT_TOO_LARGE',
          `Cannot embed "${dir}": it holds more than ${MAX_FILES_PER_DIRECTORY} files; name a narrower directory or the files themselves`,
          { facts: { path: dir } },
        );
      }
    }
  }
  return found;
}

/** A file of an earlier turn: gone or now outside the roots is a note, not a failure. */
async function earlierBlock(path: string, roots: AllowedRoots, skipped: SkippedFile[]): Promise<string | undefined> {
  try {
    return await readBlock(await roots.check(path), skipped);
  } catch (err) {
    skipped.push({ path, reason: `left out: ${messageOf(err)}` });
    return undefined;
  }
}

/** The file as a numbered block; undefined (with a note) for binary files. */
async function readBlock(path: string, skipped: SkippedFile[]): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ExaiError('FILE_UNREADABLE', `Cannot read "${path}": ${messageOf(err)}`, { facts: { path }, cause: err });
  }
  if (bytes.subarray(0, SNIFF_BYTES).includes(0)) {
    skipped.push({ path, reason: 'skipped: binary file' });
    return undefined;
  }
  return formatBlock(path, bytes.toString('utf8'));
}

/** Numbered lines, so that answers can point at them. */
function formatBlock(path: string, text: string): string {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const width = String(lines.length).length;
  const body = lines.map((line, i) => `${String(i + 1).padStart(width)}| ${line}`).join('\n');
  return `--- BEGIN FILE: ${path} (${lines.length} lines) ---\n${body}\n--- END FILE: ${path} ---\n`;
}

function tooLarge(usedChars: number, budgetChars: number, count: number): ExaiError {
  return new ExaiError(
    'CONTEXT_TOO_LARGE',
    `Cannot embed the files: ${count} files take ${usedChars.toLocaleString('en')} characters, over this call's budget of ${Math.max(0, budgetChars).toLocaleString('en')}; name fewer files or a model with a larger context window`,
    { facts: { usedChars, budgetChars, files: count } },
  );
}
