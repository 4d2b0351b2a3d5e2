import {
  array,
  boolean,
  command,
  flag,
  multioption,
  option,
  optional,
  positional,
  restPositionals,
  run,
  string,
  subcommands,
} from 'cmd-ts';
import {
  resolveCommon,
  resolveDaemonConfig,
  resolveShimConfig,
  type CommonFlags,
} from './config.ts';
import { ExaiError, messageOf } from './errors.ts';
import { VERSION } from './version.ts';

// The one place that exits: every command resolves with an exit code, every
// failure ends up in `fail` below.

const common = {
  host: option({ long: 'host', type: optional(string), description: 'daemon host (EXAI_WS_HOST, default 127.0.0.1)' }),
  port: option({ long: 'port', type: optional(string), description: 'daemon port, 0 = any free port (EXAI_WS_PORT, default 8079)' }),
  stateDir: option({ long: 'state-dir', type: optional(string), description: 'state dir (EXAI_STATE_DIR, default ~/.exai)' }),
  token: option({ long: 'token', type: optional(string), description: 'bearer token (EXAI_WS_TOKEN, default: <state>/token)' }),
  logLevel: option({ long: 'log-level', type: optional(string), description: 'debug, info, warn or error (EXAI_LOG_LEVEL)' }),
};

const daemonCommand = command({
  name: 'daemon',
  description: 'Run the daemon in the foreground (logs to <state>/logs/daemon.log)',
  args: {
    ...common,
    maxInflight: option({ long: 'max-inflight', type: optional(string), description: 'calls running at once, all providers (EXAI_MAX_INFLIGHT, default 10)' }),
    providerMaxInflight: multioption({ long: 'provider-max-inflight', type: array(string), description: 'NAME=N calls at once for one provider (EXAI_<NAME>_MAX_INFLIGHT, default 5)' }),
    callTimeout: option({ long: 'call-timeout', type: optional(string), description: 'seconds a call may run (EXAI_CALL_TIMEOUT, default 300)' }),
    queueTimeout: option({ long: 'queue-timeout', type: optional(string), description: 'seconds a call may wait, 0 = no limit (EXAI_QUEUE_TIMEOUT, default 0)' }),
    allowOrigin: multioption({ long: 'allow-origin', type: array(string), description: 'browser origin allowed to connect (repeatable)' }),
    idleExit: option({ long: 'idle-exit', type: optional(string), description: 'exit after SECONDS with no session, 0 = never (EXAI_IDLE_EXIT, default 0; autostarted: 600)' }),
    maxConnections: option({ long: 'max-connections', type: optional(string), description: 'connections at once (EXAI_MAX_CONNECTIONS, default 256)' }),
    root: multioption({ long: 'root', type: array(string), description: 'directory tools may read files from when the client offers no MCP roots (EXAI_ROOTS)' }),
    threadMaxTurns: option({ long: 'thread-max-turns', type: optional(string), description: 'turns a conversation thread may hold (EXAI_THREAD_MAX_TURNS, default 20)' }),
    threadIdleHours: option({ long: 'thread-idle-hours', type: optional(string), description: 'hours a thread lives without a new turn (EXAI_THREAD_IDLE_HOURS, default 3)' }),
    maxCallsPerSession: option({ long: 'max-calls-per-session', type: optional(string), description: 'calls one session may have queued or running (EXAI_MAX_CALLS_PER_SESSION, default 256)' }),
    bench: flag({ long: 'bench', type: boolean, description: 'also serve the bench_echo tool, for npm run bench (EXAI_BENCH=1)' }),
  },
  handler: async (flags) => {
    const { runDaemonCommand } = await import('./commands/daemon-command.ts');
    const config = resolveDaemonConfig(
      { ...flags, allowOrigin: flags.allowOrigin.length ? flags.allowOrigin : undefined },
      process.env,
    );
    return runDaemonCommand(config);
  },
});

const shimCommand = command({
  name: 'shim',
  description: 'Stdio MCP server for one client; forwards to the daemon, starting one if none runs',
  args: {
    ...common,
    name: option({ long: 'name', type: optional(string), description: 'session name (EXAI_SESSION_NAME, default <client>-<pid>)' }),
    noAutostart: flag({ long: 'no-autostart', type: boolean, description: 'never start a daemon (EXAI_NO_AUTOSTART=1)' }),
  },
  handler: async (flags) => {
    const { runShim } = await import('./shim/shim.ts');
    return runShim(resolveShimConfig(flags, process.env));
  },
});

const statusCommand = command({
  name: 'status',
  description: 'Show sessions, running and queued calls, per-provider load and uptime',
  args: { ...common, json: flag({ long: 'json', type: boolean, description: 'print JSON for scripts' }) },
  handler: async (flags) => {
    const { runStatus } = await import('./commands/client-commands.ts');
    return runStatus(resolveCommon(flags, process.env), flags.json);
  },
});

const callCommand = command({
  name: 'call',
  description: 'Make one tool call through the daemon; the result goes to stdout',
  args: {
    ...common,
    tool: positional({ type: string, displayName: 'tool' }),
    arg: multioption({ long: 'arg', type: array(string), description: 'an argument as key=value (value parsed as JSON when it can be)' }),
    json: option({ long: 'json', type: optional(string), description: 'all arguments as one JSON object' }),
  },
  handler: async (flags) => {
    const { runCall } = await import('./commands/client-commands.ts');
    return runCall(resolveCommon(flags, process.env), flags.tool, flags.arg, flags.json);
  },
});

const stopCommand = command({
  name: 'stop',
  description: 'Ask the daemon to drain and exit',
  args: { ...common },
  handler: async (flags: CommonFlags) => {
    const { runStop } = await import('./commands/client-commands.ts');
    return runStop(resolveCommon(flags, process.env));
  },
});

const demoCommand = command({
  name: 'demo',
  description: 'Show two clients sharing one daemon, with no API key and no network',
  args: { rest: restPositionals({ type: string, displayName: 'ignored' }) },
  handler: async () => {
    const { runDemo } = await import('./commands/demo-command.ts');
    return runDemo();
  },
});

const COMMANDS = {
  daemon: daemonCommand,
  shim: shimCommand,
  status: statusCommand,
  call: callCommand,
  stop: stopCommand,
  demo: demoCommand,
};

const app = subcommands({
  name: 'exai',
  version: VERSION,
  description: 'One daemon of AI consultation tools, shared by every MCP client',
  cmds: COMMANDS,
});

/** Parses the command line, runs the command, and exits with its code. */
export async function main(argv: string[]): Promise<never> {
  try {
    // Each command is parsed on its own: through `subcommands`, cmd-ts would
    // read `status --json` (a flag) like `call --json` (an option with a value).
    const chosen = COMMANDS[argv[0] as keyof typeof COMMANDS];
    const code = chosen ? await run(chosen, argv.slice(1)) : await run(app, argv);
    process.exit(typeof code === 'number' ? code : 0);
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): never {
  const message = messageOf(err);
  process.stderr.write(`exai: ${message}\n`);
  process.exit(err instanceof ExaiError && err.code === 'CONFIG_INVALID' ? 2 : 1);
}
