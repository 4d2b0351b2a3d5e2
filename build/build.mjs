// Builds build/exai: one executable holding Node, the bundled source and
// koffi's native module, made with Node's single-executable mechanism (see
// /work/shared/BUILD_NOTES.md for why not pkg). Run with `npm run build`.
//
//   node build/build.mjs [--no-strip]
//
// Steps: bundle src/main.ts to one CommonJS file with esbuild; check it needs
// nothing but Node's built-in modules; make the SEA blob with
// `node --experimental-sea-config`; copy this node binary, strip it, and
// inject the blob with postject. Intermediate files go to build/stage/.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAGE = join(ROOT, 'build', 'stage');
const BUNDLE = join(STAGE, 'exai.cjs');
const BLOB = join(STAGE, 'sea-prep.blob');
const SEA_CONFIG = join(STAGE, 'sea-config.json');
const KOFFI_HASH = join(STAGE, 'koffi.node.sha256');
const BINARY = join(ROOT, 'build', process.platform === 'win32' ? 'exai.exe' : 'exai');

// The names src/shim/koffi-native.ts reads the assets by.
const KOFFI_ASSET = 'koffi.node';
const KOFFI_HASH_ASSET = 'koffi.node.sha256';

// Fixed by Node: the fuse its binary carries and the resource it looks for.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const SEA_RESOURCE = 'NODE_SEA_BLOB';

const require = createRequire(import.meta.url);

const isStripWanted = !process.argv.includes('--no-strip');
const started = performance.now();

rmSync(STAGE, { recursive: true, force: true });
rmSync(BINARY, { force: true });
mkdirSync(STAGE, { recursive: true });

await bundle();
const koffiNative = koffiNativePath();
writeFileSync(KOFFI_HASH, `${sha256(readFileSync(koffiNative))}\n`);
makeBlob(koffiNative);
makeBinary();
checkStartsQuietly();

const sizeMb = (readFileSync(BINARY).length / 1024 / 1024).toFixed(1);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`built ${relative(ROOT, BINARY)} (${sizeMb} MB) in ${seconds} s`);

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

function makeBlob(koffiNative) {
  const config = {
    main: BUNDLE,
    output: BLOB,
    disableExperimentalSEAWarning: true,
    // V8's compiled code travels in the blob: ~40 ms less at every start.
    useCodeCache: true,
    assets: { [KOFFI_ASSET]: koffiNative, [KOFFI_HASH_ASSET]: KOFFI_HASH },
  };
  writeFileSync(SEA_CONFIG, `${JSON.stringify(config, null, 2)}\n`);
  execFileSync(process.execPath, ['--experimental-sea-config', SEA_CONFIG], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

function makeBinary() {
  copyFileSync(process.execPath, BINARY);
  chmodSync(BINARY, 0o755);
  // Before injecting: strip keeps the dynamic symbols koffi.node links
  // against, and the blob must not be touched afterwards.
  if (isStripWanted && hasStrip()) execFileSync('strip', [BINARY]);

  inject();
}

// postject in its own process: its ELF writer (LIEF) warns about Node's
// unnamed note sections on every run (nodejs/postject#83), harmlessly; keep
// those lines out of the build output and show everything else.
function inject() {
  const cli = require.resolve('postject/dist/cli.js');
  const args = [cli, BINARY, SEA_RESOURCE, BLOB, '--sentinel-fuse', SEA_FUSE];
  if (process.platform === 'darwin') args.push('--macho-segment-name', 'NODE_SEA');
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name '\.note[^']*'$/;
  const said = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line && !noise.test(line));

  if (run.status !== 0) {
    throw new Error(`Cannot inject the blob into ${BINARY}: postject exited ${run.status}:\n${said.join('\n')}`);
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

// The binary must print nothing a client did not ask for: no experimental
// warning, no failed require.
function checkStartsQuietly() {
  const run = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (run.status !== 0 || run.stdout.trim() === '' || run.stderr !== '') {
    throw new Error(`Cannot check the binary: \`exai --version\` exited ${run.status}, stdout ${JSON.stringify(run.stdout)}, stderr ${JSON.stringify(run.stderr)}`);
  }
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}
