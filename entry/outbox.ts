/**
 * `otel-audit/outbox`: the Postgres transactional outbox of `@otel-audit/sdk`, re-exported so that
 * imports written against the single-package layout keep working (a facade, hence `export *`).
 */
export * from '@otel-audit/sdk/outbox';
