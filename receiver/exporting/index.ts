/** The exporter runner: WAL cursor → batches → `AuditExporter.export()` with retries. */
export { ExporterRunner, backoffDelay } from './runner.ts';
export type { ExporterRunnerOptions, ExporterRunnerStatus } from './runner.ts';
