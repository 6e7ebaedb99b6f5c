/** The exporter runner: WAL cursor → batches → `AuditExporter.export()` with retries. */

export type { ExporterCapabilities, ExporterRunnerOptions, ExporterRunnerStatus, PayloadBatch } from './runner.ts';
export { backoffDelay, ExporterRunner } from './runner.ts';
