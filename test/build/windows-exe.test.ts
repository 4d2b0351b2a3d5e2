// build/exai.exe cannot run here (no Windows), so these tests check what
// can be checked on Linux: that it is a valid x64 PE executable, that Node
// will find the blob in it, and that the blob holds this build's bundle and
// koffi's module for Windows. They need `npm run build -- --windows`, and are
// skipped (saying so) when there is no exe.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SeaFlag, findResource, peChecksum, readPe, readSeaBlob } from '../support/pe-file.ts';

const EXE = fileURLToPath(new URL('../../build/exai.exe', import.meta.url));
const STAGE = new URL('../../build/stage/windows/', import.meta.url);
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const IMAGE_FILE_EXECUTABLE_IMAGE = 0x0002;
const IMAGE_FILE_DLL = 0x2000;
const IMAGE_SUBSYSTEM_WINDOWS_CUI = 3;
const PE32_PLUS = 0x20b;
const RT_RCDATA = 10;
const SECURITY_DIRECTORY = 4;

const noExe = !existsSync(EXE) && 'build/exai.exe is not built (npm run build -- --windows)';
if (noExe) console.log(`# skipping the exai.exe tests: ${noExe}`);

// Read once, only when there is something to read.
let exe: Buffer | undefined;
const exeBytes = () => (exe ??= readFileSync(EXE));

function seaBlob() {
  const file = exeBytes();
  const blob = findResource(file, readPe(file), RT_RCDATA, 'NODE_SEA_BLOB');
  assert.ok(blob, 'NODE_SEA_BLOB is an RCDATA resource');
  return readSeaBlob(blob);
}

test('exai.exe is a console PE32+ executable for x64', { skip: noExe }, () => {
  const pe = readPe(exeBytes());

  assert.equal(pe.machine, IMAGE_FILE_MACHINE_AMD64);
  assert.equal(pe.optionalMagic, PE32_PLUS);
  assert.equal(pe.subsystem, IMAGE_SUBSYSTEM_WINDOWS_CUI);
  assert.equal(pe.characteristics & IMAGE_FILE_EXECUTABLE_IMAGE, IMAGE_FILE_EXECUTABLE_IMAGE);
  assert.equal(pe.characteristics & IMAGE_FILE_DLL, 0);
});

test('exai.exe has its fuse flipped, so Node looks for the blob', { skip: noExe }, () => {
  const text = exeBytes().toString('latin1');

  assert.ok(text.includes(`${SEA_FUSE}:1`), 'fuse set');
  assert.ok(!text.includes(`${SEA_FUSE}:0`), 'no unset fuse left');
});

test('exai.exe carries no stale signature and a correct checksum', { skip: noExe }, () => {
  const file = exeBytes();
  const pe = readPe(file);

  // node.exe's signature would be invalid after the injection; the build drops it.
  assert.deepEqual(pe.directories[SECURITY_DIRECTORY], [0, 0]);
  assert.equal(pe.checksum, peChecksum(file, pe));
});

test('the blob in exai.exe holds this build\'s two scripts, without a code cache', { skip: noExe }, () => {
  const blob = seaBlob();

  assert.equal(blob.flags & SeaFlag.disableWarning, SeaFlag.disableWarning);
  // V8's code cache only loads on the platform that made it.
  assert.equal(blob.flags & SeaFlag.useCodeCache, 0);
  assert.equal(blob.flags & SeaFlag.useSnapshot, 0);
  assert.equal(blob.mainScript, readFileSync(new URL('exai.cjs', STAGE), 'utf8'));
  assert.deepEqual(blob.assets.get('exai-rest.cjs'), readFileSync(new URL('exai-rest.cjs', STAGE)));
  assert.equal(blob.assets.has('exai-rest.cache'), false);
});

test('the blob in exai.exe holds koffi\'s module for Windows x64 and its hash', { skip: noExe }, () => {
  const { assets } = seaBlob();
  const koffi = assets.get('koffi.node');
  const hash = assets.get('koffi.node.sha256');
  assert.ok(koffi && hash, `assets: ${[...assets.keys()].join(', ')}`);

  const dll = readPe(koffi);
  assert.equal(dll.machine, IMAGE_FILE_MACHINE_AMD64);
  assert.equal(dll.characteristics & IMAGE_FILE_DLL, IMAGE_FILE_DLL);
  // A Node-API module, of the koffi version whose JS is in the bundle.
  const text = koffi.toString('latin1');
  assert.ok(text.includes('napi_register_module_v1'));
  const koffiVersion = (JSON.parse(readFileSync(new URL('../../node_modules/koffi/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.ok(text.includes(`\0${koffiVersion}\0`), `koffi ${koffiVersion} inside`);

  assert.equal(hash.toString('utf8').trim(), createHash('sha256').update(koffi).digest('hex'));
});
