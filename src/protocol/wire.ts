/** The WebSocket subprotocol both ends ask for: MCP JSON-RPC, one session per connection. */
export const SUBPROTOCOL = 'mcp';

/** Frames larger than this close the connection with code 1009. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** Upgrade header a shim uses to name its session (the `--name` flag). */
export const SESSION_NAME_HEADER = 'x-exai-session-name';

/** Upgrade header a shim uses to say which process it is, for default session names. */
export const CLIENT_PID_HEADER = 'x-exai-client-pid';

/** HTTP path of the control endpoint that asks the daemon to drain and exit. */
export const STOP_PATH = '/exai/stop';

/** JSON-RPC error codes: the standard ones and those exai adds in the server range. */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** The daemon went away while the call ran, or could not be reached in time. */
  daemonUnavailable: -32001,
  /** The call waited in the queue longer than `--queue-timeout`. */
  queueTimeout: -32002,
  /** The call ran longer than `--call-timeout`. */
  callTimeout: -32003,
  /** The daemon is draining and takes no new calls. */
  draining: -32004,
  /** The call was cancelled. */
  cancelled: -32005,
} as const;

/**
 * The MCP protocol version the shim answers `initialize` with when the
 * client asks for one it does not know; the SDK's LATEST_PROTOCOL_VERSION.
 */
export const LATEST_PROTOCOL_VERSION = '2025-11-25';

/**
 * The versions the shim accepts as the client asks, newest first; the SDK's
 * SUPPORTED_PROTOCOL_VERSIONS. Copied, not imported: importing them loads
 * the SDK's schemas, which the shim does not need before its first answer
 * (test/protocol/wire.test.ts keeps the copies equal to the SDK's).
 */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [
  LATEST_PROTOCOL_VERSION,
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
  '2024-10-07',
];
