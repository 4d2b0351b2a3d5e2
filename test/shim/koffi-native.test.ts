import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { cacheDirs, unpackNative, type NativeSource } from '../../src/shim/koffi-native.ts';

const MODULE = Buffer.from('a native module, as far as these tests care');
const SHA256 = createHash('sha256').update(MODULE).digest('hex');
const posixOnly = { skip: process.platform === 'win32' && 'POSIX modes and uids' };

// A source that counts how often its bytes are read.
function source(bytes = MODULE, sha256 = SHA256): NativeSource & { reads: number } {
  const counted = {
    reads: 0,
    sha256: () => sha256,
    bytes: () => {
      counted.reads++;
      return bytes;
    },
  };
  return counted;
}

// Stands in for process.dlopen: "loads" a file by reading it.
const readLoad = (path: string) => ({ path, bytes: readFileSync(path) });

function withTemp(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'exai-koffi-native-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('unpackNative writes the module into its cache dir, named by hash, and loads that file', () => {
  withTemp((root) => {
    const dir = join(root, 'cache');

    const loaded = unpackNative(source(), [dir], readLoad) as ReturnType<typeof readLoad>;

    assert.equal(loaded.path, join(dir, `koffi-${SHA256.slice(0, 16)}.node`));
    assert.deepEqual(loaded.bytes, MODULE);
    assert.deepEqual(readdirSync(dir), [`koffi-${SHA256.slice(0, 16)}.node`], 'no temp file left');
  });
});

test('unpackNative makes the cache dir private, and tightens one that others can read', posixOnly, () => {
  withTemp((root) => {
    const fresh = join(root, 'fresh');
    const open = join(root, 'open');
    mkdirSync(open, { mode: 0o755 });

    unpackNative(source(), [fresh], readLoad);
    unpackNative(source(), [open], readLoad);

    assert.equal(statSync(fresh).mode & 0o777, 0o700);
    assert.equal(statSync(open).mode & 0o777, 0o700);
  });
});

test('a later start reuses the unpacked file without reading the module again', () => {
  withTemp((root) => {
    const first = source();
    const later = source();

    unpackNative(first, [root], readLoad);
    const loaded = unpackNative(later, [root], readLoad) as ReturnType<typeof readLoad>;

    assert.equal(first.reads, 1);
    assert.equal(later.reads, 0);
    assert.deepEqual(loaded.bytes, MODULE);
  });
});

test('unpackNative refuses a module whose hash is not the one built in', () => {
  withTemp((root) => {
    const tampered = source(Buffer.from('something else'));

    assert.throws(() => unpackNative(tampered, [root], readLoad), {
      message: new RegExp(`^Cannot unpack koffi's native module: .*asset hash [0-9a-f]{64} is not the built ${SHA256}$`),
    });
    assert.deepEqual(readdirSync(root), [], 'nothing written');
  });
});

test('unpackNative goes on to the next dir when one is unusable, and names every failure', () => {
  withTemp((root) => {
    const notADir = join(root, 'file');
    writeFileSync(notADir, 'in the way');
    const usable = join(root, 'usable');

    const loaded = unpackNative(source(), [notADir, usable], readLoad) as ReturnType<typeof readLoad>;
    assert.equal(loaded.path.startsWith(usable), true);

    assert.throws(() => unpackNative(source(), [notADir, join(notADir, 'below')], readLoad), (err: Error) => {
      assert.match(err.message, /^Cannot unpack koffi's native module: /);
      assert.ok(err.message.includes(`${notADir}: `), err.message);
      assert.ok(err.message.includes(`${join(notADir, 'below')}: `), err.message);
      return true;
    });
  });
});

test('a loader failure is reported like any other failure of that dir', () => {
  withTemp((root) => {
    const failing = () => {
      throw new Error('wrong ELF class');
    };

    assert.throws(() => unpackNative(source(), [root], failing), {
      message: `Cannot unpack koffi's native module: ${root}: wrong ELF class`,
    });
  });
});

test('cacheDirs prefers the user cache dir and falls back to a per-user temp dir', () => {
  const linux = cacheDirs('linux', { XDG_CACHE_HOME: '/xdg' });
  assert.equal(linux[0], join('/xdg', 'exai'));
  assert.match(linux[1] ?? '', /exai-/);

  const relativeXdg = cacheDirs('linux', { XDG_CACHE_HOME: 'relative' });
  assert.ok(relativeXdg[0]?.endsWith(join('.cache', 'exai')), 'a relative XDG_CACHE_HOME is ignored');

  const windows = cacheDirs('win32', { LOCALAPPDATA: '/Users/me/AppData/Local' });
  assert.equal(windows[0], join('/Users/me/AppData/Local', 'exai', 'cache'));
});
