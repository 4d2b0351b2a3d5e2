// What differs between running the tests under Node (`npm test`) and under
// Deno (`deno task test`).

/** True when the tests run under Deno. */
export const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

/**
 * The command that runs a TypeScript file in a child process of the same
 * runtime: Node needs tsx to load TypeScript, Deno runs it itself (and
 * passes `run` through when a child is started with its own executable).
 */
export function typeScriptRunner(): [string, ...string[]] {
  return isDeno ? [process.execPath, 'run', '-A'] : [process.execPath, '--import', 'tsx'];
}

/**
 * Test options that skip a test under Deno, saying why in the output (Deno's
 * runner shows a skipped test as "ignored", without the reason).
 */
export function skipUnderDeno(reason: string): { skip: string | false } {
  if (!isDeno) return { skip: false };
  console.log(`# skipped under Deno: ${reason}`);
  return { skip: `under Deno: ${reason}` };
}
