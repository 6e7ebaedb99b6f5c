/**
 * Calls to the receiver's APIs. The bearer token is entered once per browser session, kept in
 * sessionStorage, and sent only as an `Authorization` header — never in a URL.
 */

const TOKEN_KEY = 'otel-audit.console.token';

/** The session's token, if one was entered. */
export function getToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keep a token for this browser session. */
export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forget the token. */
export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API answer that was not 2xx; `status` 401 means a (new) token is needed. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function headers(): Record<string, string> {
  const token = getToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** GET a path of this origin with the token; the raw response when 2xx, else an {@link ApiError}. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, {
    ...init,
    headers: { ...headers(), ...(init.headers as Record<string, string> | undefined) },
    credentials: 'omit',
    cache: 'no-store',
  });
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: string; message?: string; code?: number };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not JSON.
  }
  throw new ApiError(res.status, code, message);
}

/** GET JSON. */
export async function apiJson<T>(path: string): Promise<T> {
  return (await (await apiFetch(path)).json()) as T;
}

/** What `GET /v1/audit/console/session` answers. */
export interface Session {
  authEnabled: boolean;
  principal: string | null;
  boundTenantId: string | null;
  tenants: string[];
  instanceId: string;
  eventsAvailable: boolean;
  integrity: { enabled: boolean; keyName: string | null; keyId: string | null; verifierKeys: string[]; keyError?: string };
}

/** An audit event as the API returns it (schema 1.x; docs/schema.md). */
export interface AuditEvent {
  eventId: string;
  schemaVersion: string;
  occurredAt: string;
  action: string;
  outcome: 'success' | 'failure' | 'denied';
  actor: { id: string; type: string; name?: string; authMethod?: string; impersonatorId?: string };
  tenant: { id: string; name?: string };
  targets?: Array<{ type: string; id: string; name?: string }>;
  reason?: string;
  session?: { id: string };
  request?: { id?: string; ip?: string; userAgent?: string; method?: string; path?: string };
  changes?: { before?: unknown; after?: unknown };
  details?: Record<string, unknown>;
  trace?: { traceId: string; spanId: string; traceFlags?: number };
}

/** One event with its place in the chain. */
export interface EventRecord {
  event: AuditEvent;
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  receivedAt: string;
}

/** A page of `GET /v1/audit/events`. */
export interface EventPage {
  events: EventRecord[];
  nextCursor?: string;
}
