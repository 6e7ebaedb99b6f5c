/**
 * What the logger's own LoggerProvider is made of (scope and resource), shared by the caller's
 * thread and the record worker so that a record spooled by either carries the same context.
 */
import { defaultResource, type Resource, resourceFromAttributes } from '@opentelemetry/resources';

/** Instrumentation scope name of audit log records. */
export const AUDIT_SCOPE_NAME = 'otel-audit';
/** Version of this SDK (instrumentation scope version). */
export const SDK_VERSION = '0.1.0';

/** The resource settings of the own provider (the `serviceName` and `resourceAttributes` options). */
export interface OwnResourceSettings {
  serviceName?: string | undefined;
  resourceAttributes: Record<string, string | number | boolean>;
}

/**
 * The own provider's resource: the OTel default resource (`telemetry.sdk.*`, a fallback
 * `service.name`) merged with `resourceAttributes`, then `serviceName` as `service.name`.
 * Deterministic for the same settings in any thread of one process.
 */
export function ownResource(settings: OwnResourceSettings): Resource {
  const attrs: Record<string, string | number | boolean> = { ...settings.resourceAttributes };
  if (settings.serviceName) attrs['service.name'] = settings.serviceName;
  return defaultResource().merge(resourceFromAttributes(attrs));
}
