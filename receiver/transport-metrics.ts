/**
 * Request-level self-metrics of the two OTLP transports, fed by their `onRequest` observer.
 * They cover what the pipeline never sees: requests refused for auth, size, media type or
 * undecodable bodies, and the ack latency as the client experiences it (including the fsync wait).
 */
import type { IngestObserver, IngestOutcome } from './otlp/index.ts';

/** Upper bounds (seconds) of the request duration histogram; +Inf is implied. */
export const REQUEST_DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Accumulates request outcomes per transport and renders them as Prometheus text. */
export interface TransportMetrics {
  /** Pass this as the servers' `onRequest`. */
  readonly observer: IngestObserver;
  /** Prometheus text exposition (0.0.4) of the counters and histograms. */
  render(): string;
}

interface PerTransport {
  outcomes: Map<IngestOutcome, number>;
  records: number;
  bytes: number;
  buckets: number[];
  count: number;
  sum: number;
}

/** Create an empty accumulator. */
export function createTransportMetrics(): TransportMetrics {
  const byTransport = new Map<string, PerTransport>();
  const get = (transport: string): PerTransport => {
    let t = byTransport.get(transport);
    if (!t) {
      t = { outcomes: new Map(), records: 0, bytes: 0, buckets: REQUEST_DURATION_BUCKETS_SECONDS.map(() => 0), count: 0, sum: 0 };
      byTransport.set(transport, t);
    }
    return t;
  };
  return {
    observer(event) {
      const t = get(event.transport);
      t.outcomes.set(event.outcome, (t.outcomes.get(event.outcome) ?? 0) + 1);
      t.records += event.records;
      t.bytes += event.bytes;
      t.count += 1;
      t.sum += event.durationSeconds;
      REQUEST_DURATION_BUCKETS_SECONDS.forEach((le, i) => {
        if (event.durationSeconds <= le) t.buckets[i]! += 1;
      });
    },
    render() {
      const out: string[] = [];
      const head = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      head('otel_audit_export_requests_total', 'counter', 'OTLP export requests answered, by transport and outcome.');
      for (const [transport, t] of byTransport) {
        for (const [outcome, n] of t.outcomes)
          out.push(`otel_audit_export_requests_total{transport="${transport}",outcome="${outcome}"} ${n}`);
      }
      head('otel_audit_export_request_records_total', 'counter', 'Log records in decoded OTLP export requests, by transport.');
      for (const [transport, t] of byTransport) out.push(`otel_audit_export_request_records_total{transport="${transport}"} ${t.records}`);
      head('otel_audit_export_request_bytes_total', 'counter', 'Decompressed bytes of OTLP export requests, by transport.');
      for (const [transport, t] of byTransport) out.push(`otel_audit_export_request_bytes_total{transport="${transport}"} ${t.bytes}`);
      head('otel_audit_export_request_duration_seconds', 'histogram', 'Time from request start to answer (includes the WAL fsync wait).');
      for (const [transport, t] of byTransport) {
        REQUEST_DURATION_BUCKETS_SECONDS.forEach((le, i) => {
          out.push(`otel_audit_export_request_duration_seconds_bucket{transport="${transport}",le="${le}"} ${t.buckets[i]}`);
        });
        out.push(`otel_audit_export_request_duration_seconds_bucket{transport="${transport}",le="+Inf"} ${t.count}`);
        out.push(`otel_audit_export_request_duration_seconds_sum{transport="${transport}"} ${t.sum}`);
        out.push(`otel_audit_export_request_duration_seconds_count{transport="${transport}"} ${t.count}`);
      }
      return `${out.join('\n')}\n`;
    },
  };
}
