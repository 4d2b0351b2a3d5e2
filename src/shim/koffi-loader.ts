import { createRequire } from 'node:module';

/** The koffi module, as its CommonJS entry exports it. */
export type Koffi = typeof import('koffi');

/** The outcome of loading koffi: the module, or the reason it is missing. */
export type KoffiLoad = { koffi: Koffi; error?: undefined } | { koffi?: undefined; error: Error };

let loaded: KoffiLoad | undefined;

/** Loads koffi on first use and remembers the outcome; never throws. */
export function loadKoffi(): KoffiLoad {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): KoffiLoad {
  try {
    return { koffi: requireKoffi() };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { error: new Error(`Cannot load koffi: ${reason}`, { cause: err }) };
  }
}

// The one place that knows where koffi's native code comes from. Today that is
// node_modules: koffi's CJS entry finds @koromix/koffi-<platform> itself. We
// require the CJS entry because the ESM one breaks once bundled to CommonJS.
// The single-executable build cannot require a .node file from node_modules;
// when it lands, this function writes the SEA asset to a private cache dir and
// loads it with process.dlopen instead, and nothing else in the shim changes.
function requireKoffi(): Koffi {
  const require = createRequire(import.meta.url);
  return require('koffi') as Koffi;
}
