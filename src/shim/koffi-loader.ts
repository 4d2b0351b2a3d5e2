import { createRequire } from 'node:module';
import { isSingleExecutable } from '../self.ts';
import { provideKoffiNative } from './koffi-native.ts';

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

// The one place that knows where koffi's native code comes from. From source
// that is node_modules: koffi's CJS entry finds @koromix/koffi-<platform>
// itself. The single executable cannot load a .node file from inside itself,
// so koffi-native.ts unpacks it first and the build points koffi's platform
// package at what it loaded. We take the CJS entry because the ESM one breaks
// once bundled to CommonJS.
function requireKoffi(): Koffi {
  if (isSingleExecutable()) provideKoffiNative();

  // Bundled to CommonJS there is a `require`, and esbuild resolves this call
  // at build time, which puts koffi's JS into the bundle; run from source as
  // ESM there is none, so node:module makes one.
  if (typeof require === 'function') return require('koffi') as Koffi;
  return createRequire(import.meta.url)('koffi') as Koffi;
}
