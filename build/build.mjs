// Builds build/exai: one executable holding Node, the bundled source and
// koffi's native module, made with Node's single-executable mechanism (see
// /work/shared/BUILD_NOTES.md for why not pkg). With --windows it also
// builds build/exai.exe for Windows x64 from the same bundle.
//
//   node build/build.mjs [--windows] [--no-strip]      (npm run build -- --windows)
//
// Steps: bundle the source with esbuild (build/bundle.mjs: a main script and
// a second one the shim never needs); then, per target, make the SEA blob
// with `node --experimental-sea-config` (the main script, plus as assets the
// second script and koffi's native module for that target), copy the
// target's node binary and inject the blob with postject. Intermediate files
// go to build/stage/, downloaded Windows parts to build/cache/.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleSources } from './bundle.mjs';
import { stageWindowsParts, writePeChecksum } from './windows.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAGE = join(ROOT, 'build', 'stage');

// The names src/shim/koffi-native.ts and src/rest-bundle.ts read the assets by.
const KOFFI_ASSET = 'koffi.node';
const KOFFI_HASH_ASSET = 'koffi.node.sha256';
const REST_ASSET = 'exai-rest.cjs';
const REST_CACHE_ASSET = 'exai-rest.cache';

// Fixed by Node: the fuse its binary carries and the resource it looks for.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const SEA_RESOURCE = 'NODE_SEA_BLOB';

const require = createRequire(import.meta.url);

const { values: options } = parseArgs({
  options: { windows: { type: 'boolean', default: false }, 'no-strip': { type: 'boolean', default: false } },
});
const started = performance.now();

// Outputs of an earlier build go first, so that no binary is left over from
// another bundle (an exe from before a build without --windows, say).
for (const output of [STAGE, join(ROOT, 'build', 'exai'), join(ROOT, 'build', 'exai.exe')]) {
  rmSync(output, { recursive: true, force: true });
}
mkdirSync(STAGE, { recursive: true });
const scripts = await bundleSources(ROOT, STAGE);

const built = [buildHost()];
if (options.windows) built.push(buildWindows());

const seconds = ((performance.now() - started) / 1000).toFixed(1);
for (const binary of built) {
  const sizeMb = (readFileSync(binary).length / 1024 / 1024).toFixed(1);
  console.log(`built ${relative(ROOT, binary)} (${sizeMb} MB)`);
}
console.log(`in ${seconds} s`);

// The executable for this machine, from the node running this script: it
// carries V8's code cache, and is checked by running it.
function buildHost() {
  if (options.windows && process.platform === 'win32') {
    throw new Error('Cannot build: --windows is for other hosts; on Windows the plain build makes build/exai.exe');
  }
  const binary = join(ROOT, 'build', process.platform === 'win32' ? 'exai.exe' : 'exai');
  const stage = join(STAGE, 'host');
  const blob = makeBlob(stage, koffiNativePath(), { useCodeCache: true });

  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  // Before injecting: strip keeps the dynamic symbols koffi.node links
  // against, and the blob must not be touched afterwards.
  if (!options['no-strip'] && hasStrip()) execFileSync('strip', [binary]);
  // macOS kills a binary whose signature does not match it, so node's goes
  // before the injection and an ad-hoc one comes after (Node's documented
  // steps; never run on the Linux build machines).
  if (process.platform === 'darwin') execFileSync('codesign', ['--remove-signature', binary]);
  inject(binary, blob);
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', binary]);

  checkStartsQuietly(binary);
  return binary;
}

// build/exai.exe from the official Windows build of the same Node version:
// a blob is only valid for the version that made it. Not run here; see
// test/build/windows-exe.test.ts for what is checked.
function buildWindows() {
  const binary = join(ROOT, 'build', 'exai.exe');
  const stage = join(STAGE, 'windows');
  const parts = stageWindowsParts(ROOT, stage);

  if (process.version !== `v${parts.nodeVersion}`) {
    throw new Error(`Cannot build exai.exe: it needs Node ${parts.nodeVersion} to make its blob, this is ${process.version}`);
  }
  const koffiVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'koffi', 'package.json'), 'utf8')).version;
  if (koffiVersion !== parts.koffiVersion) {
    throw new Error(`Cannot build exai.exe: koffi is ${koffiVersion}, its Windows module is pinned at ${parts.koffiVersion}`);
  }

  // V8's code cache only loads on the platform that made it.
  const blob = makeBlob(stage, parts.koffiNative, { useCodeCache: false });
  copyFileSync(parts.nodeExe, binary);
  inject(binary, blob);
  writePeChecksum(binary);
  return binary;
}

// The native module built for this machine's platform, architecture and libc.
function koffiNativePath() {
  const pkg = `@koromix/koffi-${process.platform}-${process.arch}`;
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  const isMusl = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime;
  return join(dir, `${isMusl ? 'musl' : process.platform}_${process.arch}`, 'koffi.node');
}

// Paths in the config are relative to the stage dir, which node runs in, so
// the blob names its script `exai.cjs` (in stack traces) and not a path of
// the build machine. With useCodeCache the second script gets a code cache
// of its own, made by this same node.
function makeBlob(stage, koffiNative, { useCodeCache }) {
  mkdirSync(stage, { recursive: true });
  copyFileSync(scripts.main, join(stage, 'exai.cjs'));
  copyFileSync(scripts.rest, join(stage, REST_ASSET));
  copyFileSync(koffiNative, join(stage, KOFFI_ASSET));
  writeFileSync(join(stage, KOFFI_HASH_ASSET), `${sha256(readFileSync(koffiNative))}\n`);

  const assets = { [REST_ASSET]: REST_ASSET, [KOFFI_ASSET]: KOFFI_ASSET, [KOFFI_HASH_ASSET]: KOFFI_HASH_ASSET };
  if (useCodeCache) {
    writeCodeCache(join(stage, REST_ASSET), join(stage, REST_CACHE_ASSET));
    assets[REST_CACHE_ASSET] = REST_CACHE_ASSET;
  }

  const config = {
    main: 'exai.cjs',
    output: 'sea-prep.blob',
    disableExperimentalSEAWarning: true,
    // V8's compiled code travels in the blob: ~25 ms less at every start.
    useCodeCache,
    assets,
  };
  writeFileSync(join(stage, 'sea-config.json'), `${JSON.stringify(config, null, 2)}\n`);
  // Node reports success on stderr too; show what it says only on failure.
  const run = spawnSync(process.execPath, ['--experimental-sea-config', 'sea-config.json'], {
    cwd: stage,
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    throw new Error(`Cannot make the blob in ${stage}: node exited ${run.status}:\n${run.stdout}${run.stderr}`);
  }
  return join(stage, 'sea-prep.blob');
}

// V8 accepts a code cache only from the same V8 with the same flags, so it is
// made by this node in a child without NODE_OPTIONS, and read back to check
// that V8 takes it.
function writeCodeCache(script, cache) {
  const make = `const vm = require('node:vm'), fs = require('node:fs');
const [script, cache, name] = process.argv.slice(1);
const source = fs.readFileSync(script, 'utf8');
fs.writeFileSync(cache, new vm.Script(source, { filename: name }).createCachedData());
const check = new vm.Script(source, { filename: name, cachedData: fs.readFileSync(cache) });
if (check.cachedDataRejected) throw new Error('V8 rejected the code cache it just made');`;
  const run = spawnSync(process.execPath, ['-e', make, script, cache, REST_ASSET], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (run.status !== 0) throw new Error(`Cannot make the code cache of ${script}: ${run.stderr}`);
}

// postject in its own process: its ELF writer (LIEF) warns about Node's
// unnamed note sections on every run (nodejs/postject#83), harmlessly; keep
// those lines out of the build output and show everything else.
function inject(binary, blob) {
  const cli = require.resolve('postject/dist/cli.js');
  const args = [cli, binary, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE];
  if (process.platform === 'darwin' && !binary.endsWith('.exe')) args.push('--macho-segment-name', 'NODE_SEA');
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name '\.note[^']*'$/;
  const said = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line && !noise.test(line));

  if (run.status !== 0) {
    throw new Error(`Cannot inject the blob into ${binary}: postject exited ${run.status}:\n${said.join('\n')}`);
  }
  const warnings = run.stderr.split('\n').filter((line) => line && !noise.test(line));
  if (warnings.length > 0) console.error(warnings.join('\n'));
}

function hasStrip() {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('strip', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Runs a copy of the binary in a directory of its own, as a user would: it
// must print nothing a client did not ask for (no experimental warning, no
// failed require), unpack and load koffi on its first start (a shim that
// could not isolate its stdio says so in its log), and load its second script.
function checkStartsQuietly(binary) {
  const checkDir = mkdtempSync(join(tmpdir(), 'exai-build-check-'));
  const copy = join(checkDir, basename(binary));
  const stateDir = join(checkDir, 'state');
  const cacheDir = join(checkDir, 'cache');
  const run = (args, input) =>
    spawnSync(copy, args, {
      cwd: checkDir,
      input,
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, XDG_CACHE_HOME: cacheDir },
    });

  copyFileSync(binary, copy);
  try {
    const version = run(['--version']);
    if (version.status !== 0 || version.stdout.trim() === '' || version.stderr !== '') {
      throw new Error(`Cannot check the binary: \`exai --version\` exited ${version.status}, stdout ${JSON.stringify(version.stdout)}, stderr ${JSON.stringify(version.stderr)}`);
    }

    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'build', version: '0' } } };
    const shim = run(['shim', '--state-dir', stateDir, '--no-autostart'], `${JSON.stringify(initialize)}\n`);
    const lines = shim.stdout.split('\n').filter(Boolean);
    if (shim.status !== 0 || shim.stderr !== '' || lines.length !== 1 || !lines[0].includes('"result"')) {
      throw new Error(`Cannot check the binary: \`exai shim\` exited ${shim.status}, stdout ${JSON.stringify(shim.stdout)}, stderr ${JSON.stringify(shim.stderr)}`);
    }
    const logs = join(stateDir, 'logs');
    const log = readdirSync(logs).map((name) => readFileSync(join(logs, name), 'utf8')).join('');
    const unpacked = readdirSync(join(cacheDir, 'exai'));
    if (log.includes('stdio isolation skipped') || !unpacked.some((name) => /^koffi-[0-9a-f]{16}\.node$/.test(name))) {
      throw new Error(`Cannot check the binary: the shim did not load koffi (unpacked: ${unpacked.join(', ')}):\n${log}`);
    }

    // A command of the second script: it loads, and finds no daemon.
    const status = run(['status', '--state-dir', stateDir]);
    if (status.status !== 1 || !status.stderr.startsWith('exai: Cannot reach the exai daemon: no daemon is running')) {
      throw new Error(`Cannot check the binary: \`exai status\` exited ${status.status}, stderr ${JSON.stringify(status.stderr)}`);
    }
  } finally {
    rmSync(checkDir, { recursive: true, force: true });
  }
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}
