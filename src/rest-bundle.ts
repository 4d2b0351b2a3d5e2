import { createRequire, isBuiltin } from 'node:module';

// Inside the single executable only. Its main script holds what every start
// needs (the command line and the shim); the daemon, the client commands and
// the demo travel as a second script, an asset that is compiled on first
// use, so that a shim starting up loads a fraction of the code. See
// build/bundle.mjs for how the two are cut apart.

/** The asset holding the second script: a function expression, see {@link RestScript}. */
export const REST_ASSET = 'exai-rest.cjs';

/** The asset holding V8's code cache for {@link REST_ASSET}; present where the build made it. */
export const REST_CACHE_ASSET = 'exai-rest.cache';

/** A module namespace, as `import * as` gives it. */
export type Namespace = Record<string, unknown>;

/** Loads one module of the main script; by path from the project root, e.g. `src/errors.ts`. */
export type SharedModules = Record<string, () => Promise<Namespace>>;

/**
 * What the second script evaluates to. It runs once with its own module
 * object and gets the modules it shares with the main script through
 * `shared`, so that both use one instance of each (one ExaiError class,
 * say), and returns its root modules by path in `module.exports.modules`.
 */
export type RestScript = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: { modules?: Record<string, Namespace> } },
  filename: string,
  shared: (path: string) => Namespace | undefined,
) => void;

interface SeaApi {
  getAsset(key: string): ArrayBuffer;
  getAsset(key: string, encoding: string): string;
}

let sharedModules: SharedModules = {};
let rest: Promise<Record<string, Namespace>> | undefined;

/** Called by the main script as it starts: how the second script reaches the modules they share. */
export function provideSharedModules(modules: SharedModules): void {
  sharedModules = modules;
}

/** A function of a module in the second script that loads the script on its first call. */
export function restExport(modulePath: string, name: string): (...args: unknown[]) => Promise<unknown> {
  return async (...args) => {
    const fn = (await loadRest())[modulePath]?.[name];
    if (typeof fn !== 'function') {
      throw new Error(`Cannot run ${name} of ${modulePath}: the executable's second script has no such function`);
    }
    return fn(...args);
  };
}

function loadRest(): Promise<Record<string, Namespace>> {
  rest ??= evaluateRest();
  return rest;
}

async function evaluateRest(): Promise<Record<string, Namespace>> {
  const shared = new Map<string, Namespace>();
  await Promise.all(Object.entries(sharedModules).map(async ([path, load]) => shared.set(path, await load())));

  const require = builtinRequire();
  const sea = require('node:sea') as SeaApi;
  const { Script } = require('node:vm') as typeof import('node:vm');
  const script = new Script(sea.getAsset(REST_ASSET, 'utf8'), {
    filename: REST_ASSET,
    cachedData: codeCache(sea),
  });

  const module: Parameters<RestScript>[2] = { exports: {} };
  const run = script.runInThisContext() as RestScript;
  run(module.exports, require, module, process.execPath, (path) => shared.get(path));
  if (!module.exports.modules) throw new Error(`Cannot load ${REST_ASSET}: it exports no modules`);
  return module.exports.modules;
}

// Like the main script's own require in a single executable: built-in
// modules only, never a file that happens to lie near the executable.
function builtinRequire(): NodeJS.Require {
  const require = createRequire(import.meta.url);
  const onlyBuiltins = (id: string): unknown => {
    if (!isBuiltin(id)) throw new Error(`Cannot require ${id}: the single executable loads built-in modules only`);
    return require(id);
  };
  return Object.assign(onlyBuiltins, require);
}

// A cache V8 rejects (another V8 build) only costs the compile it would have saved.
function codeCache(sea: SeaApi): Buffer | undefined {
  try {
    return Buffer.from(sea.getAsset(REST_CACHE_ASSET));
  } catch {
    return undefined;
  }
}
