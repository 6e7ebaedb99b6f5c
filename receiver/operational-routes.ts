/**
 * Health, readiness, metrics and status endpoints on the OTLP/HTTP port (DESIGN "Surfaces").
 * None of them needs a token: probes and scrapers must work without credentials, and none of them
 * reveals event content (chain heads are hashes, not data).
 */

import { VERIFIER_KEY_PATH } from './endpoint-file.ts';
import type { HttpServer } from './http/index.ts';
import { sendJson, sendResponse } from './http/index.ts';
import { type PipelineStatus, renderPrometheusMetrics } from './pipeline/index.ts';

/** What the operational routes read. */
export interface OperationalSources {
  status(): PipelineStatus;
  /** True once recovery is done and until shutdown begins, while ingest can succeed. */
  ready(): boolean;
  /** Why the receiver is not ready, for the `/readyz` body (default: recovering or shutting down). */
  notReadyReason?(): string | undefined;
  /** More Prometheus text appended to `/metrics` (e.g. transport request metrics). */
  extraMetrics?(): string;
  /** The verifier key of the checkpoint signing key (undefined while integrity is off or not loaded). */
  verifierKey?(): string | undefined;
}

/**
 * Mount `GET /healthz` (the process serves HTTP), `GET /readyz` (200 once the WAL is recovered and
 * ingest is open and can succeed, else 503 with the reason: recovering, shutting down, the WAL
 * cannot write, back-pressure), `GET /metrics` (Prometheus text exposition 0.0.4) and
 * `GET /v1/audit/status` (JSON: chain heads, WAL, exporter cursors and lag, dead letters, counters)
 * and `GET /v1/audit/verifier-key` (the C2SP note verifier key checkpoints are signed with, as one
 * text line; 404 with integrity off). The verifier key is public: `otel-audit verify` fetches it
 * from here when no key is given (which proves consistency, not authenticity: whoever controls the
 * receiver controls what it serves; auditors pin the key instead).
 */
export function mountOperationalRoutes(http: HttpServer, sources: OperationalSources): void {
  http.addRoute('GET', '/healthz', (req, res) => sendResponse(req, res, 200, 'text/plain; charset=utf-8', 'ok\n'));
  http.addRoute('GET', '/readyz', (req, res) => {
    const ready = sources.ready();
    const reason = ready ? undefined : (sources.notReadyReason?.() ?? 'recovering or shutting down');
    sendResponse(req, res, ready ? 200 : 503, 'text/plain; charset=utf-8', ready ? 'ready\n' : `not ready: ${reason}\n`);
  });
  http.addRoute('GET', '/metrics', (req, res) =>
    sendResponse(
      req,
      res,
      200,
      'text/plain; version=0.0.4; charset=utf-8',
      renderPrometheusMetrics(sources.status()) + (sources.extraMetrics?.() ?? ''),
    ),
  );
  http.addRoute('GET', '/v1/audit/status', (req, res) => sendJson(req, res, sources.status()));
  http.addRoute('GET', VERIFIER_KEY_PATH, (req, res) => {
    const key = sources.verifierKey?.();
    if (key === undefined)
      sendResponse(req, res, 404, 'text/plain; charset=utf-8', 'no verifier key: integrity (signed checkpoints) is off\n');
    else sendResponse(req, res, 200, 'text/plain; charset=utf-8', `${key}\n`);
  });
}
