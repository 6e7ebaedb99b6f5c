/** The exporter runner: WAL cursor → batches → `AuditExporter.export()` with retries. */
export { ExporterRunner, backoffDelay } from './runner.ts';
export type { ExporterCapabilities, ExporterRunnerOptions, ExporterRunnerStatus, PayloadBatch } from './runner.ts';
