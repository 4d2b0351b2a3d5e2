// Builds build/exai: one executable holding Node, the bundled source and
// koffi's native module, made with Node's single-executable mechanism (see
// /work/shared/BUILD_NOTES.md for why not pkg). With --windows it also
// builds build/exai.exe for Windows x64 from the same bundle.
//
//   node build/build.mjs [--windows] [--no-strip]      (npm run build -- --windows)
//
// Steps: bundle src/main.ts to one CommonJS file with esbuild and check that
// it needs nothing but Node's built-in modules; then, per target, make the
// SEA blob with `node --experimental-sea-config` (the bundle, plus koffi's
// native module for that target as an asset), copy the target's node binary
// and inject the blob with postject. Intermediate files go to build/stage/,
// downloaded Windows parts to build/cache/.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { stageWindowsParts, writePeChecksum } from './windows.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAGE = join(ROOT, 'build', 'stage');
const BUNDLE = join(STAGE, 'exai.cjs');

// The names src/shim/koffi-native.ts reads the assets by.
const KOFFI_ASSET = 'koffi.node';
const KOFFI_HASH_ASSET = 'koffi.node.sha256';

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
await bundle();

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
  inject(binary, blob);

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

async function bundle() {
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    // Less source for V8 to load at every start (~3 ms of it); identifiers
    // stay, so stack traces in the logs still name their functions.
    minifyWhitespace: true,
    minifySyntax: true,
    // import.meta is empty in CommonJS output: give it the bundle's own URL.
    // Inside the single executable __filename is the executable's path.
    banner: { js: 'var __exaiImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: {
      'import.meta.url': '__exaiImportMetaUrl',
      // ws skips its optional native helpers when these are set; inside the
      // single executable require() could not load them anyway.
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    },
    // koffi's ESM entry breaks once bundled to CommonJS.
    alias: { koffi: join(ROOT, 'node_modules', 'koffi', 'index.cjs') },
    plugins: [singleExecutableStubs()],
  });
  checkOnlyBuiltins(result.metafile);
}

// Modules replaced in the bundle by small ones of our own:
// - koffi's platform package (`@koromix/koffi-<platform>`) requires a .node
//   file, which a single executable cannot; the stub hands koffi the module
//   koffi-native.ts unpacked and loaded.
// - chalk (through cmd-ts) checks the terminal's colour support as it loads,
//   which loads tty and costs ~4 ms on every start; cmd-ts needs colours only
//   for help and errors. The stub loads the real chalk at its first use.
// - debug (through cmd-ts) traces cmd-ts's parser when DEBUG=cmd-ts:* is
//   set, and loads tty and reads the environment at start-up for that. The
//   binary leaves the trace out: the stub is a debug that is never enabled.
function singleExecutableStubs() {
  const nativeHolder = join(ROOT, 'src', 'shim', 'koffi-native.ts');
  const realChalk = join(ROOT, 'node_modules', 'chalk', 'source', 'index.js');
  const stubs = {
    'koffi-native': `module.exports = require(${JSON.stringify(nativeHolder)}).providedKoffiNative();`,
    chalk: `let chalk;
module.exports = {
  __esModule: true,
  get default() {
    return (chalk ??= require(${JSON.stringify(realChalk)}).default);
  },
};`,
    debug: 'module.exports = () => Object.assign(() => {}, { enabled: false });',
  };

  return {
    name: 'single-executable-stubs',
    setup(builder) {
      builder.onResolve({ filter: /^@koromix\/koffi-/ }, () => ({ path: 'koffi-native', namespace: 'stub' }));
      builder.onResolve({ filter: /^(chalk|debug)$/ }, (args) => ({ path: args.path, namespace: 'stub' }));
      builder.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
        contents: stubs[args.path],
        loader: 'js',
        resolveDir: ROOT,
      }));
    },
  };
}

// Inside the single executable require() loads built-in modules only: any
// other module left outside the bundle would fail at run time.
function checkOnlyBuiltins(metafile) {
  const output = metafile.outputs[relative(process.cwd(), BUNDLE)] ?? Object.values(metafile.outputs)[0];
  const external = output.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path);

  // Also read the text: a require esbuild did not see (built from a string,
  // say) would not be in the metafile. Code generators such as ajv's keep
  // `require("...")` inside string literals, so skip those after a quote.
  const text = readFileSync(BUNDLE, 'utf8');
  for (const match of text.matchAll(/(^|[^'"`\w.])require\("([^"]+)"\)/gm)) {
    if (!isBuiltin(match[2])) external.push(match[2]);
  }

  if (external.length > 0) {
    throw new Error(`Cannot build the single executable: the bundle still requires ${[...new Set(external)].join(', ')}`);
  }
}

// The native module built for this machine's platform, architecture and libc.
function koffiNativePath() {
  const pkg = `@koromix/koffi-${process.platform}-${process.arch}`;
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  const isMusl = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime;
  return join(dir, `${isMusl ? 'musl' : process.platform}_${process.arch}`, 'koffi.node');
}

// Paths in the config are relative to the stage dir, which node runs in, so
// the blob names the bundle `exai.cjs` (in stack traces) and not a path of
// the build machine.
function makeBlob(stage, koffiNative, { useCodeCache }) {
  mkdirSync(stage, { recursive: true });
  copyFileSync(BUNDLE, join(stage, 'exai.cjs'));
  copyFileSync(koffiNative, join(stage, KOFFI_ASSET));
  writeFileSync(join(stage, KOFFI_HASH_ASSET), `${sha256(readFileSync(koffiNative))}\n`);

  const config = {
    main: 'exai.cjs',
    output: 'sea-prep.blob',
    disableExperimentalSEAWarning: true,
    // V8's compiled code travels in the blob: ~40 ms less at every start.
    useCodeCache,
    assets: { [KOFFI_ASSET]: KOFFI_ASSET, [KOFFI_HASH_ASSET]: KOFFI_HASH_ASSET },
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

// The binary must print nothing a client did not ask for (no experimental
// warning, no failed require), and koffi must load inside it: a shim that
// could not isolate its stdio says so in its log.
function checkStartsQuietly(binary) {
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0 || version.stdout.trim() === '' || version.stderr !== '') {
    throw new Error(`Cannot check the binary: \`exai --version\` exited ${version.status}, stdout ${JSON.stringify(version.stdout)}, stderr ${JSON.stringify(version.stderr)}`);
  }

  const stateDir = mkdtempSync(join(tmpdir(), 'exai-build-check-'));
  try {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'build', version: '0' } } };
    const shim = spawnSync(binary, ['shim', '--state-dir', stateDir, '--no-autostart'], {
      input: `${JSON.stringify(initialize)}\n`,
      encoding: 'utf8',
      timeout: 20_000,
    });
    const lines = shim.stdout.split('\n').filter(Boolean);
    const logs = join(stateDir, 'logs');
    const log = readdirSync(logs).map((name) => readFileSync(join(logs, name), 'utf8')).join('');
    if (shim.status !== 0 || shim.stderr !== '' || lines.length !== 1 || !lines[0].includes('"result"')) {
      throw new Error(`Cannot check the binary: \`exai shim\` exited ${shim.status}, stdout ${JSON.stringify(shim.stdout)}, stderr ${JSON.stringify(shim.stderr)}`);
    }
    if (log.includes('stdio isolation skipped')) {
      throw new Error(`Cannot check the binary: the shim could not load koffi:\n${log}`);
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}
