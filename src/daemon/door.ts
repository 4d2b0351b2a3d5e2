import type { IncomingMessage } from 'node:http';
import { tokensMatch } from '../state/token.ts';

/** Why an upgrade or control request is turned away, as an HTTP status. */
export interface Refusal {
  status: 401 | 403 | 503;
  reason: string;
}

/**
 * Checks a request at the door: a browser (any `Origin` header) must come
 * from an allowed origin, and everyone must carry the bearer token.
 */
export function checkRequest(
  request: IncomingMessage,
  token: string,
  allowOrigins: readonly string[],
): Refusal | undefined {
  const origin = request.headers.origin;
  if (origin !== undefined && !allowOrigins.includes(origin)) {
    return { status: 403, reason: 'origin not allowed' };
  }

  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match || !tokensMatch(match[1]!.trim(), token)) {
    return { status: 401, reason: 'missing or wrong token' };
  }
  return undefined;
}

/** True when `host` only listens on this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}
