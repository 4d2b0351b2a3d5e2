import { constants as osConstants } from 'node:os';
import { messageOf } from '../errors.ts';
import { loadKoffi } from './koffi-loader.ts';
import type { Koffi } from './koffi-loader.ts';

/** The close-on-exec bit of a POSIX descriptor's flags (F_GETFD / F_SETFD). */
export const FD_CLOEXEC = 1;

/** The bit of a Windows handle's information that lets child processes inherit it. */
export const HANDLE_FLAG_INHERIT = 1;

// Same values on Linux, macOS and the BSDs.
const F_GETFD = 1;
const F_SETFD = 2;

// GetStdHandle's arguments: (DWORD)-10, -11, -12.
const STD_HANDLE_IDS = { stdin: -10, stdout: -11, stderr: -12 } as const;

const STREAMS = ['stdin', 'stdout', 'stderr'] as const;

/** One of the three standard streams. */
export type StdStream = (typeof STREAMS)[number];

/** Descriptor flags of fds 0-2 through fcntl; both calls throw (with `code`, `errno`) on -1. */
export interface PosixStdioBinding {
  kind: 'posix';
  getDescriptorFlags(fd: number): number;
  setDescriptorFlags(fd: number, flags: number): void;
}

/**
 * The std handles through kernel32. `getStdHandle` returns the handle as a
 * number (0 or -1 when there is none); `getHandleInformation` returns
 * undefined when the call fails.
 */
export interface WindowsStdioBinding {
  kind: 'windows';
  getStdHandle(which: number): unknown;
  setHandleInformation(handle: unknown, mask: number, flags: number): boolean;
  getHandleInformation(handle: unknown): number | undefined;
}

/** The native calls the isolation step needs, per platform family. */
export type StdioBinding = PosixStdioBinding | WindowsStdioBinding;

/** Produces the binding for a platform, or throws why it cannot. */
export type StdioBindingLoader = (platform: NodeJS.Platform) => StdioBinding;

/** What the isolation step did to each standard stream. */
export interface IsolationReport {
  ok: boolean;
  details: { stream: StdStream; ok: boolean; error?: string }[];
}

/** Binds fcntl (POSIX) or kernel32 (Windows) through koffi; throws when either cannot load. */
export function loadStdioBinding(platform: NodeJS.Platform = process.platform): StdioBinding {
  const { koffi, error } = loadKoffi();
  if (koffi === undefined) throw error;

  return bindStdio(koffi, platform);
}

/** Binds fcntl or kernel32 through the given koffi (a stand-in in tests); throws when the library cannot load. */
export function bindStdio(koffi: Koffi, platform: NodeJS.Platform): StdioBinding {
  return platform === 'win32' ? bindWindows(koffi) : bindPosix(koffi, platform);
}

/** Stops fds 0-2 (or the std handles) from reaching any child process; never throws. */
export function isolateStdio(binding: StdioBinding): IsolationReport {
  const details = STREAMS.map((stream, fd) =>
    attempt(stream, () => {
      if (binding.kind === 'windows') stopInheritance(binding, stream);
      else closeOnExec(binding, fd);
    }),
  );
  return { ok: details.every((d) => d.ok), details };
}

/** Loads the binding and isolates this process's stdio; any failure becomes `warning`. */
export function isolateOwnStdio(
  platform: NodeJS.Platform = process.platform,
  loadBinding: StdioBindingLoader = loadStdioBinding,
): { report?: IsolationReport; warning?: string } {
  let binding: StdioBinding;
  try {
    binding = loadBinding(platform);
  } catch (err) {
    return { warning: `Cannot isolate stdio: ${messageOf(err)}` };
  }

  const report = isolateStdio(binding);
  if (report.ok) return { report };

  const failures = report.details.filter((d) => !d.ok).map((d) => `${d.stream}: ${d.error}`);
  return { report, warning: `Cannot isolate stdio: ${failures.join('; ')}` };
}

function attempt(stream: StdStream, step: () => void): IsolationReport['details'][number] {
  try {
    step();
    return { stream, ok: true };
  } catch (err) {
    return { stream, ok: false, error: messageOf(err) };
  }
}

function closeOnExec(binding: PosixStdioBinding, fd: number): void {
  const flags = binding.getDescriptorFlags(fd);
  // Node 20 sets the flag at start-up; Deno and other runtimes do not.
  if ((flags & FD_CLOEXEC) !== 0) return;

  binding.setDescriptorFlags(fd, flags | FD_CLOEXEC);
}

function stopInheritance(binding: WindowsStdioBinding, stream: StdStream): void {
  const handle = binding.getStdHandle(STD_HANDLE_IDS[stream]);
  // A detached process has no handle (0), a failed lookup gives -1: nothing to
  // change, but the caller should hear that this stream was not covered.
  if (isMissingHandle(handle)) {
    throw new Error(`Cannot clear the inherit flag: GetStdHandle returned ${String(handle)}`);
  }

  if (!binding.setHandleInformation(handle, HANDLE_FLAG_INHERIT, 0)) {
    throw new Error('Cannot clear the inherit flag: SetHandleInformation failed');
  }

  const flags = binding.getHandleInformation(handle);
  if (flags !== undefined && (flags & HANDLE_FLAG_INHERIT) !== 0) {
    throw new Error(`Cannot clear the inherit flag: handle flags still ${flags} after the call`);
  }
}

function isMissingHandle(handle: unknown): boolean {
  return handle == null || handle === 0 || handle === 0n || handle === -1 || handle === -1n;
}

function bindPosix(koffi: Koffi, platform: NodeJS.Platform): PosixStdioBinding {
  const libc = openLibrary(koffi, 'the C library', libcNames(platform));
  // Variadic on purpose: on Apple arm64 variadic arguments travel on the stack,
  // so a fixed (int, int, int) signature would pass the flags in the wrong place.
  const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');

  return {
    kind: 'posix',
    getDescriptorFlags(fd) {
      const flags: number = fcntl(fd, F_GETFD);
      if (flags === -1) throw fcntlError(koffi, 'read the flags', fd);
      return flags;
    },
    setDescriptorFlags(fd, flags) {
      if (fcntl(fd, F_SETFD, 'int', flags) === -1) throw fcntlError(koffi, 'set the flags', fd);
    },
  };
}

function bindWindows(koffi: Koffi): WindowsStdioBinding {
  const kernel32 = openLibrary(koffi, 'kernel32', ['kernel32.dll']);
  // Handles as intptr_t rather than pointers: they come back as plain numbers
  // that compare with 0 and -1 (INVALID_HANDLE_VALUE) directly.
  const getStdHandle = kernel32.func('__stdcall', 'GetStdHandle', 'intptr_t', ['int32']);
  const setInfo = kernel32.func('__stdcall', 'SetHandleInformation', 'int32', [
    'intptr_t',
    'uint32',
    'uint32',
  ]);
  const getInfo = kernel32.func('__stdcall', 'GetHandleInformation', 'int32', [
    'intptr_t',
    koffi.out(koffi.pointer('uint32')),
  ]);

  return {
    kind: 'windows',
    getStdHandle: (which) => getStdHandle(which),
    setHandleInformation: (handle, mask, flags) => setInfo(handle, mask, flags) !== 0,
    getHandleInformation(handle) {
      const flags = [0];
      return getInfo(handle, flags) !== 0 ? flags[0] : undefined;
    },
  };
}

// null asks for the process itself, whose lookup scope always holds the C
// library; it covers musl and the BSDs, whose libc file names differ.
function libcNames(platform: NodeJS.Platform): (string | null)[] {
  if (platform === 'linux') return ['libc.so.6', null];
  if (platform === 'darwin') return ['/usr/lib/libSystem.B.dylib', 'libc.dylib', null];
  return [null];
}

function openLibrary(
  koffi: Koffi,
  library: string,
  names: (string | null)[],
): ReturnType<Koffi['load']> {
  let lastError: unknown;
  for (const name of names) {
    try {
      return koffi.load(name);
    } catch (err) {
      lastError = err;
    }
  }
  const tried = names.map((n) => n ?? '(the process itself)').join(', ');
  throw new Error(`Cannot load ${library}: tried ${tried}: ${messageOf(lastError)}`, {
    cause: lastError,
  });
}

// koffi keeps errno from the last native call, so read it right after fcntl.
function fcntlError(koffi: Koffi, action: string, fd: number): Error {
  const errno = koffi.errno();
  const code = errnoName(errno);
  const message = `Cannot ${action} of fd ${fd}: fcntl failed with ${code} (errno ${errno})`;
  return Object.assign(new Error(message), { code, errno });
}

function errnoName(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, value]) => value === errno);
  return entry?.[0] ?? 'an unknown error';
}
