import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { loadKoffi, type Koffi } from '../../src/shim/koffi-loader.ts';
import {
  bindStdio,
  FD_CLOEXEC,
  HANDLE_FLAG_INHERIT,
  isolateOwnStdio,
  isolateStdio,
  loadStdioBinding,
} from '../../src/shim/stdio-isolation.ts';
import type { WindowsStdioBinding } from '../../src/shim/stdio-isolation.ts';
import type { FlagsReport, LeakReport } from '../fixtures/stdio-isolation-child.ts';
import { typeScriptRunner } from '../support/runtime.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/stdio-isolation-child.ts', import.meta.url));
const posixOnly = { skip: process.platform === 'win32' && 'fcntl and /bin/sh are POSIX' };

type FixtureRun<T> = { result: T; stdoutEnd: Promise<unknown> };

// Four pipes: 0-2 stand in for the MCP client's pipes, fd 3 carries the result,
// so nothing the fixture reports can be confused with what stdio carries.
async function runFixture<T>(args: string[]): Promise<FixtureRun<T>> {
  const [runner, ...runnerArgs] = typeScriptRunner();
  const child = spawn(runner, [...runnerArgs, FIXTURE, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let reported = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const reportPipe = child.stdio[3]!;
  reportPipe.on('data', (chunk: Buffer) => (reported += chunk));
  // fd 3 is close-on-exec in the fixture's grandchild, so it ends with the fixture.
  const reportEnd = once(reportPipe, 'end');
  const stdoutEnd = once(child.stdout, 'end');
  child.stdout.resume();

  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `fixture failed: ${stderr}`);
  await reportEnd;
  return { result: JSON.parse(reported) as T, stdoutEnd };
}

async function endsWithin(end: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const timedOut = delay(ms, false, { signal: timer.signal }).catch(() => false);
  const ended = await Promise.race([end.then(() => true), timedOut]);
  timer.abort();
  return ended;
}

function stopProcess(pid: number): void {
  try {
    process.kill(pid);
  } catch {
    // Already gone: nothing to clean up.
  }
}

// A leak scenario: the fixture starts `sleep 30` in the background and exits.
async function withGrandchild(
  mode: 'isolate' | 'leave',
  check: (run: FixtureRun<LeakReport>, grandchildPid: number) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'exai-stdio-'));
  const pidFile = join(dir, 'grandchild.pid');
  try {
    const run = await runFixture<LeakReport>(['leak', mode, pidFile]);
    const grandchildPid = readPid(pidFile);
    assert.ok(grandchildPid > 0, 'the fixture wrote the grandchild pid');
    await check(run, grandchildPid);
  } finally {
    // Also when the fixture failed after starting the grandchild.
    const grandchildPid = readPid(pidFile);
    if (grandchildPid > 0) stopProcess(grandchildPid);
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

test('isolateStdio sets FD_CLOEXEC on fds 0-2 that were cleared before', posixOnly, async () => {
  const { result } = await runFixture<FlagsReport>(['flags']);

  for (const flags of result.before) assert.equal(flags & FD_CLOEXEC, 0, 'cleared before');
  for (const flags of result.after) assert.equal(flags & FD_CLOEXEC, FD_CLOEXEC, 'set after');
  assert.equal(result.report.ok, true);
  assert.deepEqual(
    result.report.details.map((d) => d.stream),
    ['stdin', 'stdout', 'stderr'],
  );
});

test('without isolation a grandchild keeps the client stdout pipe open', posixOnly, async () => {
  await withGrandchild('leave', async (run, grandchildPid) => {
    // The pipe stays open for as long as the grandchild lives, so a short wait
    // cannot give a false result here.
    assert.equal(await endsWithin(run.stdoutEnd, 300), false, 'stdout ended with the fixture');

    stopProcess(grandchildPid);
    assert.equal(await endsWithin(run.stdoutEnd, 5000), true, 'stdout ends with the grandchild');
  });
});

test('after isolation the client sees stdout end when the process exits', posixOnly, async () => {
  await withGrandchild('isolate', async (run) => {
    assert.equal(run.result.report?.ok, true);
    assert.equal(await endsWithin(run.stdoutEnd, 5000), true, 'stdout still open');
  });
});

test('posix binding names the errno when fcntl fails', posixOnly, () => {
  const binding = loadStdioBinding();
  assert.equal(binding.kind, 'posix');
  if (binding.kind !== 'posix') return;

  // Far above any open-file limit, so never a live descriptor.
  assert.throws(() => binding.getDescriptorFlags(1 << 30), {
    code: 'EBADF',
    message: /^Cannot read the flags of fd 1073741824: fcntl failed with EBADF/,
  });
});

type Call = { fn: string; args: unknown[] };

function fakeWindows(
  handles: Record<number, unknown>,
  options: { failing?: unknown[]; stillInheritable?: unknown[] } = {},
): { binding: WindowsStdioBinding; calls: Call[] } {
  const calls: Call[] = [];
  const binding: WindowsStdioBinding = {
    kind: 'windows',
    getStdHandle(which) {
      calls.push({ fn: 'GetStdHandle', args: [which] });
      return handles[which];
    },
    setHandleInformation(handle, mask, flags) {
      calls.push({ fn: 'SetHandleInformation', args: [handle, mask, flags] });
      return !options.failing?.includes(handle);
    },
    getHandleInformation(handle) {
      return options.stillInheritable?.includes(handle) ? HANDLE_FLAG_INHERIT : 0;
    },
  };
  return { binding, calls };
}

test('isolateStdio clears the inherit flag of the three std handles on Windows', () => {
  const { binding, calls } = fakeWindows({ [-10]: 100, [-11]: 104, [-12]: 108 });

  const report = isolateStdio(binding);

  assert.equal(report.ok, true);
  assert.deepEqual(
    calls.filter((c) => c.fn === 'SetHandleInformation').map((c) => c.args),
    [
      [100, HANDLE_FLAG_INHERIT, 0],
      [104, HANDLE_FLAG_INHERIT, 0],
      [108, HANDLE_FLAG_INHERIT, 0],
    ],
  );
});

test('isolateStdio reports missing handles and failed calls without throwing', () => {
  const { binding, calls } = fakeWindows(
    { [-10]: null, [-11]: -1, [-12]: 108 },
    { failing: [108] },
  );

  const report = isolateStdio(binding);

  assert.equal(report.ok, false);
  assert.deepEqual(
    report.details.map((d) => [d.stream, d.ok]),
    [
      ['stdin', false],
      ['stdout', false],
      ['stderr', false],
    ],
  );
  assert.match(report.details[0]?.error ?? '', /GetStdHandle returned null/);
  assert.match(report.details[1]?.error ?? '', /GetStdHandle returned -1/);
  assert.match(report.details[2]?.error ?? '', /SetHandleInformation failed/);
  // Missing handles are skipped, never passed to SetHandleInformation.
  assert.deepEqual(
    calls.filter((c) => c.fn === 'SetHandleInformation').map((c) => c.args[0]),
    [108],
  );
});

test('isolateStdio reports a handle that stays inheritable after the call', () => {
  const { binding } = fakeWindows({ [-10]: 100, [-11]: 104, [-12]: 108 }, {
    stillInheritable: [104],
  });

  const report = isolateStdio(binding);

  assert.deepEqual(
    report.details.map((d) => d.ok),
    [true, false, true],
  );
  assert.match(report.details[1]?.error ?? '', /still 1 after the call/);
});

test('isolateStdio reports a throwing posix binding per stream', () => {
  const report = isolateStdio({
    kind: 'posix',
    getDescriptorFlags: (fd) => {
      if (fd === 2) throw new Error('Cannot read the flags of fd 2: fcntl failed with EBADF');
      return 0;
    },
    setDescriptorFlags: () => {},
  });

  assert.deepEqual(
    report.details.map((d) => d.ok),
    [true, true, false],
  );
  assert.match(report.details[2]?.error ?? '', /EBADF/);
});

test('isolateOwnStdio returns a warning when the binding cannot load', () => {
  const outcome = isolateOwnStdio('linux', () => {
    throw new Error('Cannot load koffi: no prebuilt binary');
  });

  assert.deepEqual(outcome, {
    warning: 'Cannot isolate stdio: Cannot load koffi: no prebuilt binary',
  });
});

test('isolateOwnStdio returns a warning when the platform library is missing', () => {
  // A real load, not a fake: kernel32.dll does not exist off Windows.
  const platform = process.platform === 'win32' ? 'linux' : 'win32';

  const outcome = isolateOwnStdio(platform);

  assert.equal(outcome.report, undefined);
  assert.match(outcome.warning ?? '', /^Cannot isolate stdio: /);
});

test('isolateOwnStdio returns the report with a warning naming each failed stream', () => {
  const { binding } = fakeWindows({ [-10]: 100, [-11]: 0, [-12]: 108 });

  const outcome = isolateOwnStdio('win32', () => binding);

  assert.equal(outcome.report?.ok, false);
  assert.equal(
    outcome.warning,
    'Cannot isolate stdio: stdout: Cannot clear the inherit flag: GetStdHandle returned 0',
  );
});

test('isolateOwnStdio returns the report and no warning when every stream is isolated', () => {
  const { binding } = fakeWindows({ [-10]: 100, [-11]: 104, [-12]: 108 });

  const outcome = isolateOwnStdio('win32', () => binding);

  assert.equal(outcome.report?.ok, true);
  assert.equal(outcome.warning, undefined);
});

// kernel32 as far as the isolation uses it, behind the real koffi's type
// checks: every declaration must be one koffi accepts, and the functions
// behave as Windows documents them (BOOL results, an out DWORD).
function fakeKernel32(handles: Map<number, { flags: number }>, options: { stuck?: number } = {}) {
  const { koffi: real, error } = loadKoffi();
  if (!real) throw error;
  const declared: { convention: string; name: string; result: string; args: unknown[] }[] = [];
  const functions: Record<string, (...args: never[]) => unknown> = {
    GetStdHandle: (which: number) => ({ [-10]: 100, [-11]: 104, [-12]: 108 })[which] ?? -1,
    SetHandleInformation: (handle: number, mask: number, flags: number) => {
      const entry = handles.get(handle);
      if (!entry) return 0;
      if (handle !== options.stuck) entry.flags = (entry.flags & ~mask) | (flags & mask);
      return 1;
    },
    GetHandleInformation: (handle: number, out: number[]) => {
      const entry = handles.get(handle);
      if (!entry) return 0;
      out[0] = entry.flags;
      return 1;
    },
  };

  const koffi = {
    ...real,
    load(name: string) {
      if (name !== 'kernel32.dll') throw new Error(`${name}: cannot open shared object file`);
      return {
        func(convention: string, fn: string, result: string, args: unknown[]) {
          // Anonymous, so repeated declarations do not clash in koffi's type registry.
          real.proto(convention, null, result, args as Parameters<typeof real.proto>[3]);
          declared.push({ convention, name: fn, result, args });
          return functions[fn];
        },
      };
    },
  } as unknown as Koffi;
  return { koffi, declared };
}

test('the Windows binding declares kernel32 with its documented signatures', () => {
  const { koffi, declared } = fakeKernel32(new Map());

  bindStdio(koffi, 'win32');

  assert.deepEqual(
    declared.map((d) => [d.convention, d.name]),
    [
      ['__stdcall', 'GetStdHandle'],
      ['__stdcall', 'SetHandleInformation'],
      ['__stdcall', 'GetHandleInformation'],
    ],
  );
  // HANDLE is pointer-sized; DWORD and BOOL are 32 bits.
  const { koffi: real } = loadKoffi();
  const sizeOf = (type: unknown) => real!.sizeof(type as string);
  const [getStd, setInfo, getInfo] = declared;
  assert.deepEqual([sizeOf(getStd!.result), ...getStd!.args.map(sizeOf)], [8, 4]);
  assert.deepEqual([sizeOf(setInfo!.result), ...setInfo!.args.map(sizeOf)], [4, 8, 4, 4]);
  assert.deepEqual([sizeOf(getInfo!.result), sizeOf(getInfo!.args[0])], [4, 8]);
});

test('through kernel32 the isolation clears only the inherit flag of the three std handles', () => {
  // 2 is HANDLE_FLAG_PROTECT_FROM_CLOSE, which must survive.
  const handles = new Map([
    [100, { flags: HANDLE_FLAG_INHERIT }],
    [104, { flags: HANDLE_FLAG_INHERIT | 2 }],
    [108, { flags: HANDLE_FLAG_INHERIT }],
  ]);
  const { koffi } = fakeKernel32(handles);

  const report = isolateStdio(bindStdio(koffi, 'win32'));

  assert.equal(report.ok, true);
  assert.deepEqual(
    [...handles.values()].map((h) => h.flags),
    [0, 2, 0],
  );
});

test('through kernel32 a handle that stays inheritable is read back and reported', () => {
  const handles = new Map([
    [100, { flags: HANDLE_FLAG_INHERIT }],
    [104, { flags: HANDLE_FLAG_INHERIT }],
    [108, { flags: HANDLE_FLAG_INHERIT }],
  ]);
  const { koffi } = fakeKernel32(handles, { stuck: 104 });

  const report = isolateStdio(bindStdio(koffi, 'win32'));

  assert.deepEqual(
    report.details.map((d) => d.ok),
    [true, false, true],
  );
  assert.match(report.details[1]?.error ?? '', /handle flags still 1 after the call/);
});
