import { createRequire } from 'node:module';

/** The command that runs this same exai again (the single binary, or node with the entry script). */
export function selfCommand(): string[] {
  if (isSingleExecutable()) return [process.execPath];
  return [process.execPath, ...process.execArgv, process.argv[1]!];
}

/** True inside the single executable built by `npm run build`. */
export function isSingleExecutable(): boolean {
  try {
    const sea = createRequire(import.meta.url)('node:sea') as { isSea(): boolean };
    return sea.isSea();
  } catch {
    return false;
  }
}
