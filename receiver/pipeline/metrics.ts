/**
 * Prometheus text exposition (format 0.0.4) of {@link PipelineStatus}: what `GET /metrics` serves.
 * Metric names follow the Prometheus conventions (`_total` counters, base units: seconds, bytes).
 */
import type { PipelineStatus } from './pipeline.ts';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Render the status as Prometheus text. Pure; call it per scrape. */
export function renderPrometheusMetrics(status: PipelineStatus): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : '-Inf'}`);
  };
  const c = status.counters;
  metric('otel_audit_records_received_total', 'counter', 'Log records received by the pipeline.', [['', c.received]]);
  metric('otel_audit_records_accepted_total', 'counter', 'Audit events appended to the WAL (fsync acknowledged).', [['', c.accepted]]);
  metric('otel_audit_records_rejected_total', 'counter', 'Records rejected (invalid, wrong tenant, non-audit under reject).', [
    ['', c.rejected],
  ]);
  metric('otel_audit_records_deduped_total', 'counter', 'Duplicate events acknowledged without appending.', [['', c.deduped]]);
  metric('otel_audit_records_non_audit_total', 'counter', 'Records without audit.schema_version.', [['', c.nonAudit]]);
  metric('otel_audit_requests_total', 'counter', 'Export requests consumed.', [['', c.requests]]);
  metric('otel_audit_requests_retryable_total', 'counter', 'Requests answered retryable (back-pressure, not ready, shutdown).', [
    ['', c.retryableAnswers],
  ]);
  metric('otel_audit_ready', 'gauge', '1 when recovery is done and the pipeline accepts.', [['', status.ready ? 1 : 0]]);
  metric('otel_audit_backpressure_active', 'gauge', '1 while ingest answers retryable because of backlog or disk space.', [
    ['', status.backpressure.active ? 1 : 0],
  ]);
  metric('otel_audit_disk_free_bytes', 'gauge', 'Free disk space of the data directory.', [['', status.backpressure.freeDiskBytes]]);
  metric('otel_audit_wal_bytes', 'gauge', 'Bytes of retained WAL segments.', [['', status.wal.bytes]]);
  metric('otel_audit_wal_segments', 'gauge', 'Retained WAL segments.', [['', status.wal.segments]]);
  metric('otel_audit_wal_backlog_bytes', 'gauge', 'WAL bytes behind the slowest exporter.', [['', status.wal.backlogBytes]]);
  metric('otel_audit_wal_last_lsn', 'gauge', 'Last durable LSN.', [['', status.wal.lastLsn]]);
  metric('otel_audit_wal_commits_total', 'counter', 'WAL group commits.', [['', status.wal.commits]]);
  metric('otel_audit_dead_letters', 'gauge', 'Dead letters stored.', [['', status.deadLetters.stored]]);
  metric('otel_audit_dedupe_ids', 'gauge', 'Event ids held by the dedupe index.', [['', status.dedupe.ids]]);
  metric('otel_audit_dedupe_bytes', 'gauge', 'Memory of the dedupe index.', [['', status.dedupe.bytes]]);
  const dd = status.dedupe;
  metric('otel_audit_dedupe_window_seconds', 'gauge', 'Dedupe window: configured, and effective (shorter when ids had to be evicted).', [
    ['{kind="configured"}', dd.windowMillis / 1000],
    ['{kind="effective"}', dd.effectiveWindowMillis / 1000],
  ]);
  metric('otel_audit_dedupe_window_short', 'gauge', '1 while the effective dedupe window is shorter than configured.', [
    ['', dd.effectiveWindowMillis < dd.windowMillis ? 1 : 0],
  ]);
  metric('otel_audit_dedupe_run_ids', 'gauge', 'Event ids in on-disk dedupe runs.', [['', dd.runIds]]);
  metric('otel_audit_dedupe_run_files', 'gauge', 'On-disk dedupe run files.', [['', dd.runFiles]]);
  metric('otel_audit_dedupe_run_disk_bytes', 'gauge', 'Bytes of on-disk dedupe runs.', [['', dd.runDiskBytes]]);
  metric('otel_audit_dedupe_summary_bytes', 'gauge', 'Memory of the in-memory summaries (fences, Bloom filters) of the dedupe runs.', [
    ['', dd.summaryBytes],
  ]);
  metric('otel_audit_dedupe_pending_spills', 'gauge', 'Frozen in-memory dedupe tables waiting to be written as runs.', [
    ['', dd.pendingTables],
  ]);
  metric(
    'otel_audit_dedupe_corrupt_pages',
    'gauge',
    'Dedupe run pages found corrupt (AUDIT_ERR_DEDUPE_CORRUPT); lookups that need them fail.',
    [['', dd.corrupt.length]],
  );
  metric('otel_audit_dedupe_page_reads_total', 'counter', 'Dedupe run pages read from disk by lookups (cache misses).', [
    ['', dd.pageReads],
  ]);
  metric(
    'otel_audit_chain_seq',
    'gauge',
    'Last seq of each hash chain.',
    status.chains.map((ch) => [`{chain_id="${esc(ch.chainId)}",tenant_id="${esc(ch.tenantId)}"}`, ch.seq]),
  );
  const ex = (f: (e: PipelineStatus['exporters'][number]) => number) =>
    status.exporters.map((e) => [`{exporter="${esc(e.name)}"}`, f(e)] as [string, number]);
  metric(
    'otel_audit_exporter_lag_entries',
    'gauge',
    'Durable entries not yet exported.',
    ex((e) => e.lagEntries),
  );
  metric(
    'otel_audit_exporter_lag_bytes',
    'gauge',
    'WAL bytes not yet exported.',
    ex((e) => e.lagBytes),
  );
  metric(
    'otel_audit_exporter_cursor_lsn',
    'gauge',
    'Last LSN acknowledged by the exporter.',
    ex((e) => e.cursorLsn),
  );
  metric(
    'otel_audit_exporter_failing',
    'gauge',
    '1 while the exporter gets permanent failures.',
    ex((e) => (e.failing ? 1 : 0)),
  );
  metric(
    'otel_audit_exporter_exported_entries_total',
    'counter',
    'Entries exported.',
    ex((e) => e.exportedEntries),
  );
  const f = status.fsync;
  out.push(
    '# HELP otel_audit_fsync_duration_seconds Duration of fsync/fdatasync calls of the WAL.',
    '# TYPE otel_audit_fsync_duration_seconds histogram',
  );
  for (const b of f.buckets)
    out.push(`otel_audit_fsync_duration_seconds_bucket{le="${Number.isFinite(b.le) ? b.le / 1000 : '+Inf'}"} ${b.count}`);
  out.push(`otel_audit_fsync_duration_seconds_sum ${f.sumMillis / 1000}`, `otel_audit_fsync_duration_seconds_count ${f.count}`);
  return out.join('\n') + '\n';
}
