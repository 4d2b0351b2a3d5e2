import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScriptedEndpoint, type EndpointRequest } from '../demo/scripted-endpoint.ts';
import { ExaiError } from '../errors.ts';
import { readDaemonRecord } from '../state/daemon-record.ts';
import { statePaths } from '../state/paths.ts';
import { selfCommand } from '../self.ts';

const QUESTIONS: Record<string, string> = {
  'How should two editors share one daemon?': 'Point both at exai shim; one daemon serves them in turn.',
  'What keeps my call from starving?': 'FIFO order: each call waits only for the calls made before it.',
};

/**
 * `exai demo`: a daemon with `--max-inflight 1`, a scripted local endpoint
 * standing in for Kimi, and two real shims as two MCP clients that call
 * `chat` at the same moment. It prints the timeline; no key, no network.
 */
export async function runDemo(): Promise<number> {
  const started = performance.now();
  // A reader that goes away (`exai demo | head`) ends the printing, not the clean-up.
  let isReaderGone = false;
  process.stdout.on('error', () => (isReaderGone = true));
  const say = (who: string, what: string) => {
    if (isReaderGone) return;
    const ms = String(Math.round(performance.now() - started)).padStart(5);
    process.stdout.write(`${ms} ms  ${who.padEnd(9)} ${what}\n`);
  };
  const stateDir = mkdtempSync(join(tmpdir(), 'exai-demo-'));
  const endpoint = await startScriptedEndpoint({
    reply: (request) => {
      say('endpoint', `starts answering "${promptOf(request)}"`);
      const text = QUESTIONS[promptOf(request)] ?? 'An answer.';
      return { kind: 'text', text, chunkDelayMs: 120 };
    },
  });
  const [command, ...prefix] = selfCommand();
  const env = { ...process.env, KIMI_API_KEY: 'demo-key', KIMI_API_URL: endpoint.baseUrl, DEFAULT_MODEL: 'kimi-k2-0905-preview' };
  const daemon = spawn(command!, [...prefix, 'daemon', '--port', '0', '--max-inflight', '1', '--state-dir', stateDir], {
    env,
    stdio: 'ignore',
  });
  const killDaemon = () => daemon.kill('SIGTERM');
  process.once('exit', killDaemon);
  const clients: Client[] = [];

  try {
    say('daemon', 'starting with --max-inflight 1 (one call at a time)');
    const port = await daemonPort(stateDir, () => daemon.exitCode);
    say('daemon', `listening on 127.0.0.1:${port}`);

    for (const name of ['client A', 'client B']) {
      const transport = new StdioClientTransport({
        command: command!,
        args: [...prefix, 'shim', '--state-dir', stateDir, '--no-autostart', '--name', name.replace(' ', '-')],
        env: env as Record<string, string>,
        stderr: 'ignore',
      });
      const client = new Client({ name, version: '1.0.0' });
      await client.connect(transport);
      clients.push(client);
      // tools/list goes through to the daemon: the shim is linked once it answers.
      await client.listTools();
      say(name, 'exai shim connected to the daemon');
    }

    const ask = (client: Client, who: string, prompt: string) => {
      say(who, `calls chat("${prompt}")`);
      return client
        .callTool({ name: 'chat', arguments: { prompt } }, CallToolResultSchema, {
          onprogress: (p) => {
            const message = p.message ?? '';
            say(who, message.startsWith('queued:') ? message : `streaming "${message.trim()}"`);
          },
        })
        .then((result) => {
          // The first block is the answer; the second names the thread to continue.
          const [answer, thread] = (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : ''));
          say(who, `got its answer: ${answer}`);
          if (thread) say(who, thread.replace(/ \(pass it.*$/, ''));
        });
    };
    const [questionA, questionB] = Object.keys(QUESTIONS);
    await Promise.all([ask(clients[0]!, 'client A', questionA!), ask(clients[1]!, 'client B', questionB!)]);

    const [first, second] = endpoint.requests;
    say('summary', `the second call started ${Math.round(second!.startedAt - first!.endedAt!)} ms after the first ended: never both at once`);
    return 0;
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    killDaemon();
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once('exit', resolve)));
    await endpoint.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function promptOf(request: EndpointRequest): string {
  return request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
}

async function daemonPort(stateDir: string, exitCode: () => number | null): Promise<number> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const record = readDaemonRecord(statePaths(stateDir));
    if (record) return record.port;
    if (exitCode() !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new ExaiError('DAEMON_UNREACHABLE', `Cannot run the demo: the daemon did not start (see ${statePaths(stateDir).daemonLog})`);
}
