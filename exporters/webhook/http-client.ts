/**
 * The webhook's HTTP(S) client: node:http / node:https with one keep-alive agent per webhook (the
 * agent carries the extra CA and the client certificate), a deadline over the whole exchange, and
 * answers classified the way the exporter runner understands them:
 *
 *   2xx                                   → success
 *   408, 409, 425, 429, 5xx               → retryable (Retry-After honoured: seconds or HTTP-date)
 *   timeout, connection error             → retryable
 *   other 1xx/3xx/4xx                     → permanent failure (the runner keeps the batch, retries slowly)
 *
 * 409 is retryable because an idempotency-aware endpoint answers it while a request with the same
 * key is still in progress (IETF draft-ietf-httpapi-idempotency-key-header, "Error Scenarios").
 * Redirects are not followed: a signed audit batch goes only to the configured URL.
 */
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';

/** What one POST came back with. */
export type PostOutcome =
  | { kind: 'response'; status: number; retryAfterMillis: number | undefined; bodySnippet: string }
  | { kind: 'error'; timedOut: boolean; message: string };

/** TLS material (PEM). */
export interface ClientTls {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  serverName?: string | undefined;
}

/** A client bound to one URL. */
export interface WebhookHttpClient {
  post(body: Buffer, headers: Record<string, string>, timeoutMillis: number): Promise<PostOutcome>;
  /** Close idle keep-alive sockets. */
  close(): void;
}

/**
 * Parse `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Undefined when absent or
 * unparseable; never negative.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMillis = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const text = v.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMillis);
}

/** Whether an HTTP status is worth retrying as is. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

const SNIPPET_BYTES = 512;

/** Create the client of `url`. */
export function createWebhookHttpClient(url: URL, tls: ClientTls = {}): WebhookHttpClient {
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({
        keepAlive: true,
        maxSockets: 4,
        // An extra CA is added to Node's bundled roots, not put in their place.
        ...(tls.ca ? { ca: [...rootCertificates, ...splitPem(tls.ca)] } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
      })
    : new http.Agent({ keepAlive: true, maxSockets: 4 });
  const request = secure ? https.request : http.request;

  return {
    post(body, headers, timeoutMillis) {
      return new Promise<PostOutcome>((resolve) => {
        let settled = false;
        const done = (o: PostOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(o);
        };
        const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on('data', (c: Buffer) => {
            if (kept < SNIPPET_BYTES) {
              chunks.push(c);
              kept += c.length;
            }
          });
          res.on('end', () =>
            done({
              kind: 'response',
              status: res.statusCode ?? 0,
              retryAfterMillis: parseRetryAfter(res.headers['retry-after']),
              bodySnippet: Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8').replace(/\s+/g, ' ').trim(),
            }),
          );
          res.on('error', (err) => done({ kind: 'error', timedOut: false, message: `response: ${err.message}` }));
        });
        const timer = setTimeout(() => {
          done({ kind: 'error', timedOut: true, message: `no complete answer within ${timeoutMillis} ms` });
          req.destroy(new Error('timeout'));
        }, timeoutMillis);
        req.on('error', (err: NodeJS.ErrnoException) =>
          done({ kind: 'error', timedOut: false, message: err.code ? `${err.code}: ${err.message}` : err.message }),
        );
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function splitPem(pem: Buffer): string[] {
  const text = pem.toString('utf8');
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [text];
}
