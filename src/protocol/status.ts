/** Load of one semaphore: its bound and how many hold or wait for a slot. */
export interface LoadCounts {
  limit: number;
  running: number;
  waiting: number;
}

/** One connected MCP session, as `status` reports it. */
export interface SessionStatus {
  id: string;
  name: string;
  ageMs: number;
  running: number;
  queued: number;
}

/** One tool call the daemon holds, as `status` reports it. */
export interface CallStatus {
  id: string;
  session: string;
  tool: string;
  state: 'queued' | 'running';
  provider?: string;
  model?: string;
  ageMs: number;
}

/** What the `status` tool returns as structured content; `exai status --json` prints it. */
export interface StatusReport {
  version: string;
  pid: number;
  uptimeMs: number;
  isDraining: boolean;
  global: LoadCounts;
  providers: Record<string, LoadCounts>;
  sessions: SessionStatus[];
  calls: CallStatus[];
}
