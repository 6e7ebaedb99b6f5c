/**
 * `record()` with the schema 1.1 `message`: the human-readable text travels as the OTLP body (so
 * log viewers show it) or, beside `details`, as `audit.message`; the event is labelled 1.1 only
 * when it uses the field, so other events stay 1.0.
 */

import { createAuditLogger } from '@otel-audit/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { sampleEvent, tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('record() with a message', () => {
  it('delivers the message as the body or beside details, labelled 1.1; events without one stay 1.0', async () => {
    const endpoint = await startOtlpEndpoint();
    cleanups.push(() => endpoint.close());
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const audit = createAuditLogger({ spoolDir: dir, exporter: { endpoint: endpoint.httpUrl, timeoutMillis: 1000 } });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));

    await audit.record(sampleEvent({ message: 'Ada granted billing admin to Bob' }));
    await audit.record(sampleEvent({ message: 'Ada revoked it', details: { ticket: 'T-9' } }));
    await audit.record(sampleEvent({ details: { ticket: 'T-10' } }));
    await audit.flush();
    const events = endpoint.events();
    expect(events.map((e) => [e.schemaVersion, e.message, e.details])).toEqual([
      ['1.1', 'Ada granted billing admin to Bob', undefined],
      ['1.1', 'Ada revoked it', { ticket: 'T-9' }],
      ['1.0', undefined, { ticket: 'T-10' }],
    ]);
    expect(() => audit.record(sampleEvent({ message: '' }) as never)).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_INVALID_EVENT', path: 'message' }),
    );
  });
});
