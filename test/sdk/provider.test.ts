import { logs } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { sampleEvent, tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function env() {
  const endpoint = await startOtlpEndpoint();
  cleanups.push(() => endpoint.close());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return { endpoint, dir };
}

describe("an app's existing LoggerProvider", () => {
  it('takes audit.processor in its processors list; app logs are not audited, audit records reach both', async () => {
    const { endpoint, dir } = await env();
    const appExporter = new InMemoryLogRecordExporter();
    // The provider does not exist yet when the audit logger is created: pass a function.
    let provider: LoggerProvider | undefined;
    const audit = createAuditLogger({ loggerProvider: () => provider!, spoolDir: dir, exporter: { endpoint: endpoint.httpUrl } });
    provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'checkout' }),
      processors: [new SimpleLogRecordProcessor({ exporter: appExporter }), audit.processor],
    });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));

    provider.getLogger('app').emit({ body: 'an ordinary log line', attributes: { 'http.route': '/x' } });
    const id = await audit.record(sampleEvent());
    expect(await audit.flush()).toEqual({ status: 'success' });
    expect(endpoint.eventIds()).toEqual([id]);
    expect(endpoint.accepted[0]!.resource['service.name']).toBe('checkout');
    // The app's own pipeline sees its log line and the audit record (OTel semantics).
    expect(appExporter.getFinishedLogRecords().map((r) => r.attributes['audit.event_id'] ?? r.body)).toEqual(['an ordinary log line', id]);
  });

  it("emits through the global provider with loggerProvider: 'global'", async () => {
    const { endpoint, dir } = await env();
    const audit = createAuditLogger({ loggerProvider: 'global', spoolDir: dir, exporter: { endpoint: endpoint.httpUrl } });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    const provider = new LoggerProvider({ processors: [audit.processor] });
    logs.setGlobalLoggerProvider(provider);
    cleanups.push(() => logs.disable());
    const id = await audit.record(sampleEvent());
    await audit.flush();
    expect(endpoint.eventIds()).toEqual([id]);
  });

  it('rejects record() when the provider does not include audit.processor', async () => {
    const { dir } = await env();
    const provider = new LoggerProvider({ processors: [] });
    const audit = createAuditLogger({ loggerProvider: provider, spoolDir: dir, delivery: 'memory' });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    await expect(audit.record(sampleEvent())).rejects.toMatchObject({ code: 'AUDIT_ERR_INVALID_CONFIG', path: 'loggerProvider' });
  });
});

describe('a caller-supplied OTel exporter', () => {
  it('delivers through a stock OTLPLogExporter (partial_success is then only logged by it)', async () => {
    const { endpoint, dir } = await env();
    const audit = createAuditLogger({
      spoolDir: dir,
      logRecordExporter: new OTLPLogExporter({ url: endpoint.httpUrl, timeoutMillis: 500 }),
      minBackoffMillis: 10,
      maxBackoffMillis: 20,
    });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    endpoint.script({ kind: 'error', httpStatus: 503, grpcCode: 14 }, { kind: 'partial', rejected: 1, message: 'x' });
    const ids = await Promise.all([audit.record(sampleEvent()), audit.record(sampleEvent())]);
    expect(await audit.flush()).toEqual({ status: 'success' });
    expect(endpoint.eventIds()).toEqual(ids);
    expect(audit.stats()).toMatchObject({ exported: 2, rejected: 0 });
  });
});
