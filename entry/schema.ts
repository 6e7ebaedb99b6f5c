/**
 * `otel-audit/schema`: `@otel-audit/schema` re-exported so that imports written against the
 * single-package layout keep working (a facade, hence `export *`).
 */
export * from '@otel-audit/schema';
