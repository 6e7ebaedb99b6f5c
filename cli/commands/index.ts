/**
 * Registers every subcommand of `otel-audit`. Each loads its module only when it runs.
 */
import { registerCommand } from '../registry.ts';

registerCommand('start', 'run the receiver and exporters', async () => (await import('./start.ts')).command);

registerCommand(
  'postgres-ddl',
  'print the SQL of the Postgres transactional outbox',
  async () => (await import('./postgres-ddl.ts')).command,
);
registerCommand('relay', 'relay audit events from the Postgres outbox to the receiver', async () => (await import('./relay.ts')).command);
registerCommand('replay', 'replay cold storage (S3 or local archive) into ClickHouse', async () => (await import('./replay.ts')).command);
registerCommand(
  'clickhouse-ddl',
  'print the ClickHouse schema and least-privilege roles',
  async () => (await import('./clickhouse-ddl.ts')).command,
);
registerCommand(
  'keys',
  'generate checkpoint signing keys (Ed25519, C2SP signed-note format)',
  async () => (await import('./keys.ts')).command,
);
registerCommand(
  'verify',
  'verify hash chains and signed checkpoints in the WAL, ClickHouse or the archive',
  async () => (await import('./verify.ts')).command,
);
registerCommand(
  'prove',
  'write an offline-verifiable inclusion proof bundle for one event',
  async () => (await import('./prove.ts')).command,
);
registerCommand(
  'verify-proof',
  'verify a proof bundle offline against a public key',
  async () => (await import('./verify-proof.ts')).command,
);
registerCommand(
  'dead-letters',
  'show records the receiver rejected, with the reason',
  async () => (await import('./dead-letters.ts')).command,
);
registerCommand('token', 'generate a bearer token or hash one for auth.tokens[].sha256', async () => (await import('./token.ts')).command);
registerCommand(
  'query',
  'run a read-only SQL query against the receiver or a ClickHouse server',
  async () => (await import('./query.ts')).command,
);
registerCommand(
  'export',
  'export audit events (ndjson, csv, ocsf) from ClickHouse or the archive',
  async () => (await import('./export.ts')).command,
);
