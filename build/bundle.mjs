// Bundles the source for the single executable, cut in two:
//
// - exai.cjs, the main script: the command line and everything a shim needs.
//   Node compiles all of it (from V8's code cache) at every start, so it is
//   kept small: a shim answers `initialize` ~6 ms sooner than with one
//   bundle of everything.
// - exai-rest.cjs, the second script: the modules behind REST_ROOTS (the
//   daemon, the client commands, the demo) and whatever only they import.
//   src/rest-bundle.ts compiles it on first use. It is one function
//   expression that receives the modules it shares with the main script,
//   so both use one instance of each of our modules.
//
// Both are CommonJS that require nothing but Node's built-in modules, the
// only kind `require` loads inside a single executable.

import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative, sep } from 'node:path';
import { build } from 'esbuild';

/** The modules whose code goes to the second script; cli.ts imports each with import(). */
export const REST_ROOTS = [
  'src/commands/daemon-command.ts',
  'src/commands/client-commands.ts',
  'src/commands/demo-command.ts',
];

/** Writes `exai.cjs` and `exai-rest.cjs` into `stageDir` and returns their paths. */
export async function bundleSources(rootDir, stageDir) {
  const project = projectOf(rootDir);
  const exportsOf = await exportNames(project);

  // The main script once without the registry of shared modules, to learn
  // which of our modules it holds; then again with it.
  const probe = await build({
    ...commonOptions(project),
    entryPoints: [project.abs('src/main.ts')],
    write: false,
    plugins: [stubs(project), restStubs(project, exportsOf)],
  });
  const shared = ourModules(probe.metafile, project);

  const main = join(stageDir, 'exai.cjs');
  const mainResult = await build({
    ...commonOptions(project),
    stdin: { contents: mainEntry(project), resolveDir: rootDir, sourcefile: 'exai-main.js' },
    outfile: main,
    plugins: [stubs(project), restStubs(project, exportsOf), sharedRegistry(project, shared)],
  });
  const mainModules = ourModules(mainResult.metafile, project);
  if (mainModules.join() !== shared.join()) {
    throw new Error('Cannot bundle: the registry of shared modules changed what the main script holds');
  }

  const rest = join(stageDir, 'exai-rest.cjs');
  const restResult = await build({
    ...commonOptions(project),
    stdin: { contents: restEntry(project), resolveDir: rootDir, sourcefile: 'exai-rest.js' },
    outfile: rest,
    // The script is a function expression; src/rest-bundle.ts calls it with
    // the names CommonJS code expects, and `shared` for the shared modules.
    banner: { js: `(function (exports, require, module, __filename, __exaiShared) {\n${IMPORT_META_URL}` },
    footer: { js: '})' },
    plugins: [stubs(project), sharedStubs(project, new Set(shared))],
  });

  checkOnlyBuiltins(main, mainResult.metafile);
  checkOnlyBuiltins(rest, restResult.metafile);
  return { main, rest };
}

// import.meta is empty in CommonJS output: give it the script's own URL.
// Inside the single executable __filename is the executable's path.
const IMPORT_META_URL = 'var __exaiImportMetaUrl = require("node:url").pathToFileURL(__filename).href;';

function projectOf(rootDir) {
  return {
    root: rootDir,
    abs: (path) => join(rootDir, ...path.split('/')),
    rel: (path) => relative(rootDir, path).split(sep).join('/'),
  };
}

function commonOptions(project) {
  return {
    absWorkingDir: project.root,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    // Less source for V8 to load at every start; identifiers stay, so stack
    // traces in the logs still name their functions.
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: IMPORT_META_URL },
    define: {
      'import.meta.url': '__exaiImportMetaUrl',
      // ws skips its optional native helpers when these are set; inside the
      // single executable require() could not load them anyway.
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    },
    // koffi's ESM entry breaks once bundled to CommonJS.
    alias: { koffi: project.abs('node_modules/koffi/index.cjs') },
  };
}

// The names each rest root exports, for the stand-ins in the main script.
async function exportNames(project) {
  const result = await build({
    absWorkingDir: project.root,
    entryPoints: REST_ROOTS.map((path) => project.abs(path)),
    outdir: 'out',
    write: false,
    bundle: false,
    format: 'esm',
    metafile: true,
    logLevel: 'warning',
  });
  const names = new Map();
  for (const output of Object.values(result.metafile.outputs)) {
    names.set(project.rel(join(project.root, output.entryPoint)), output.exports);
  }
  return names;
}

// Our own modules (src/) in a bundle, by path from the root, sorted.
function ourModules(metafile, project) {
  return Object.keys(metafile.inputs)
    .map((input) => project.rel(join(project.root, input)))
    .filter((path) => path.startsWith('src/'))
    .sort();
}

function mainEntry(project) {
  // The registry first: ES modules run in import order.
  return `import 'exai:shared-registry';\nimport ${JSON.stringify(project.abs('src/main.ts'))};\n`;
}

function restEntry(project) {
  const imports = REST_ROOTS.map((path, i) => `import * as m${i} from ${JSON.stringify(project.abs(path))};`);
  const entries = REST_ROOTS.map((path, i) => `${JSON.stringify(path)}: m${i}`);
  return `${imports.join('\n')}\nexport const modules = { ${entries.join(', ')} };\n`;
}

// In the main script, each rest root is a stand-in whose functions load the
// second script on their first call. Only import() may reach one: a static
// import would make its functions' results promises behind the caller's back.
function restStubs(project, exportsOf) {
  const roots = new Set(REST_ROOTS.map((path) => project.abs(path)));
  const loader = JSON.stringify(project.abs('src/rest-bundle.ts'));
  // Only imports that name a root's file are resolved to find out.
  const names = REST_ROOTS.map((path) => path.split('/').pop().replace(/\.ts$/, ''));
  const filter = new RegExp(`/(${names.join('|')})(\\.ts)?$`);

  return {
    name: 'rest-stubs',
    setup(builder) {
      builder.onResolve({ filter }, async (args) => {
        if (args.pluginData?.isRestStub) return undefined;
        const resolved = await builder.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: { isRestStub: true } });
        if (!roots.has(resolved.path)) return undefined;
        if (args.kind !== 'dynamic-import') {
          throw new Error(`Cannot bundle: ${args.importer} imports ${args.path} statically; the single executable loads it later, so import it with import()`);
        }
        return { path: project.rel(resolved.path), namespace: 'rest-stub' };
      });
      builder.onLoad({ filter: /.*/, namespace: 'rest-stub' }, (args) => {
        const lines = exportsOf.get(args.path).map((name) => `export const ${name} = restExport(${JSON.stringify(args.path)}, ${JSON.stringify(name)});`);
        return { contents: `import { restExport } from ${loader};\n${lines.join('\n')}\n`, loader: 'js', resolveDir: project.root };
      });
    },
  };
}

// The main script hands the second script its instances of our modules,
// each loaded only when the second script is (import() stays lazy).
function sharedRegistry(project, shared) {
  const loader = JSON.stringify(project.abs('src/rest-bundle.ts'));
  const entries = shared.map((path) => `  ${JSON.stringify(path)}: () => import(${JSON.stringify(project.abs(path))}),`);

  return {
    name: 'shared-registry',
    setup(builder) {
      builder.onResolve({ filter: /^exai:shared-registry$/ }, () => ({ path: 'registry', namespace: 'exai' }));
      builder.onLoad({ filter: /.*/, namespace: 'exai' }, () => ({
        contents: `import { provideSharedModules } from ${loader};\nprovideSharedModules({\n${entries.join('\n')}\n});\n`,
        loader: 'js',
        resolveDir: project.root,
      }));
    },
  };
}

// In the second script, a module the main script holds is taken from it.
function sharedStubs(project, shared) {
  return {
    name: 'shared-stubs',
    setup(builder) {
      builder.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.pluginData?.isSharedStub) return undefined;
        const resolved = await builder.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: { isSharedStub: true } });
        const path = project.rel(resolved.path);
        return shared.has(path) ? { path, namespace: 'shared' } : undefined;
      });
      builder.onLoad({ filter: /.*/, namespace: 'shared' }, (args) => ({
        contents: `module.exports = __exaiShared(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

// Modules replaced in both scripts by small ones of our own:
// - koffi's platform package (`@koromix/koffi-<platform>`) requires a .node
//   file, which a single executable cannot; the stub hands koffi the module
//   src/shim/koffi-native.ts unpacked and loaded.
// - chalk (through cmd-ts) checks the terminal's colour support as it loads,
//   which loads tty and costs ~4 ms on every start; cmd-ts needs colours only
//   for help and errors. The stub loads the real chalk at its first use.
// - debug (through cmd-ts) traces cmd-ts's parser when DEBUG=cmd-ts:* is
//   set, and loads tty and reads the environment at start-up for that. The
//   binary leaves the trace out: the stub is a debug that is never enabled.
function stubs(project) {
  const nativeHolder = JSON.stringify(project.abs('src/shim/koffi-native.ts'));
  const realChalk = JSON.stringify(project.abs('node_modules/chalk/source/index.js'));
  const contents = {
    'koffi-native': `module.exports = require(${nativeHolder}).providedKoffiNative();`,
    chalk: `let chalk;
module.exports = {
  __esModule: true,
  get default() {
    return (chalk ??= require(${realChalk}).default);
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
        contents: contents[args.path],
        loader: 'js',
        resolveDir: project.root,
      }));
    },
  };
}

// Inside the single executable require() loads built-in modules only: any
// other module left outside a script would fail at run time.
function checkOnlyBuiltins(script, metafile) {
  const external = Object.values(metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((i) => i.external && !isBuiltin(i.path))
    .map((i) => i.path);

  // Also read the text: a require esbuild did not see (built from a string,
  // say) would not be in the metafile. Code generators such as ajv's keep
  // `require("...")` inside string literals, so skip those after a quote.
  const text = readFileSync(script, 'utf8');
  for (const match of text.matchAll(/(^|[^'"`\w.])require\("([^"]+)"\)/gm)) {
    if (!isBuiltin(match[2])) external.push(match[2]);
  }

  if (external.length > 0) {
    throw new Error(`Cannot build the single executable: ${script} still requires ${[...new Set(external)].join(', ')}`);
  }
}
