/**
 * The standard OpenTelemetry SDK environment variables, applied to `createAuditLogger` options
 * with the precedence of the OTel specification (protocol/exporter.md, configuration/
 * sdk-environment-variables.md, resource/sdk.md):
 *
 *   explicit option  >  OTEL_EXPORTER_OTLP_LOGS_*  >  OTEL_EXPORTER_OTLP_*  >  default
 *
 * - Endpoint: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` is used as-is (a URL without a path gets `/`);
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL to which OTLP/HTTP appends `v1/logs` (after making
 *   sure the base ends with one `/`); for gRPC both are used as-is.
 * - Headers: `key=value` pairs separated by commas (W3C Baggage format without properties), values
 *   percent-decoded; the logs-specific variable overrides the generic one key by key, and explicit
 *   `exporter.headers` override both key by key.
 * - Protocol: `grpc`, `http/protobuf`, `http/json` (case-insensitive). Timeout: integer
 *   milliseconds, 0 meaning no limit (the SDK's maximum, 600000). Compression: `gzip` or `none`.
 * - `OTEL_SERVICE_NAME` sets `service.name` and wins over a `service.name` in
 *   `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, keys and values percent-decoded); explicit
 *   `serviceName` / `resourceAttributes` win over both.
 *
 * An empty variable counts as unset (the specification's rule). A variable that is set but
 * invalid fails `createAuditLogger` with `AUDIT_ERR_INVALID_CONFIG` naming the variable, where the
 * specification suggests warning and ignoring: an audit producer that silently falls back to the
 * default endpoint because a variable was mistyped would lose its events to nowhere
 * (docs/decisions.md, "OTel environment variables in the SDK").
 */
import { AuditError } from '@otel-audit/core';

/** The OTLP exporter settings the variables can supply (all optional). */
export interface OtelEnvExporterSettings {
  protocol?: 'http/protobuf' | 'http/json' | 'grpc';
  endpoint?: string;
  headers?: Record<string, string>;
  timeoutMillis?: number;
  compression?: 'none' | 'gzip';
}

/** What the environment says, before explicit options are applied. */
export interface OtelEnvSettings {
  exporter: OtelEnvExporterSettings;
  serviceName?: string;
  resourceAttributes: Record<string, string>;
}

/** Largest export timeout the SDK accepts (`exporter.timeoutMillis`); OTel's 0 ("no limit") maps to it. */
export const MAX_EXPORT_TIMEOUT_MILLIS = 600_000;

type Env = Readonly<Record<string, string | undefined>>;

/** A variable's value, or undefined when unset or empty (empty = unset, per the specification). */
function read(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function invalid(name: string, message: string, cause?: unknown): AuditError {
  return new AuditError('AUDIT_ERR_INVALID_CONFIG', `${name}: ${message}`, { path: name, cause });
}

/** The logs-specific variable if set, else the generic one; with the name that supplied it. */
function pick(env: Env, suffix: string): { name: string; value: string } | undefined {
  for (const name of [`OTEL_EXPORTER_OTLP_LOGS_${suffix}`, `OTEL_EXPORTER_OTLP_${suffix}`]) {
    const value = read(env, name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

function percentDecode(name: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw invalid(name, `invalid percent-encoding in "${text}"`, cause);
  }
}

/**
 * Parse a `key1=value1,key2=value2` list (W3C Baggage without properties), percent-decoding keys
 * and values. Any malformed member rejects the whole value (resource/sdk.md: "the entire
 * environment variable value SHOULD be discarded and an error SHOULD be reported").
 */
export function parseKeyValueList(name: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const member of text.split(',')) {
    if (member.trim() === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) throw invalid(name, `"${member.trim()}" is not a key=value pair`);
    const key = percentDecode(name, member.slice(0, eq).trim());
    if (key === '') throw invalid(name, `"${member.trim()}" has an empty key`);
    out[key] = percentDecode(name, member.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The logs endpoint for a protocol from the variables, or undefined when neither is set.
 * OTLP/HTTP + generic variable: base URL + `v1/logs`; otherwise as-is (with `/` for an empty path).
 */
function endpointFrom(env: Env, protocol: OtelEnvExporterSettings['protocol']): string | undefined {
  const specific = read(env, 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT');
  const generic = read(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const name = specific !== undefined ? 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const value = specific ?? generic;
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw invalid(name, `"${value}" is not a URL`, cause);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(name, `"${value}" must be an http or https URL`);
  if (protocol === 'grpc') return value;
  if (specific !== undefined) {
    // "Used as-is without any modification", except that a URL with no path gets the root path.
    return /^https?:\/\/[^/?#]+$/i.test(value) ? `${value}/` : value;
  }
  // Generic: a base URL; the signal path is relative to it ("ensure the base URL ends with a slash
  // and append"). Query and fragment are not URL components the exporter honours.
  const base = `${url.origin}${url.pathname}`;
  return `${base.endsWith('/') ? base : `${base}/`}v1/logs`;
}

/** Read the OTel variables that configure the SDK. Throws `AUDIT_ERR_INVALID_CONFIG` naming a bad variable. */
export function readOtelEnvironment(env: Env = process.env): OtelEnvSettings {
  const exporter: OtelEnvExporterSettings = {};
  const protocol = pick(env, 'PROTOCOL');
  if (protocol !== undefined) {
    const p = protocol.value.toLowerCase();
    if (p !== 'grpc' && p !== 'http/protobuf' && p !== 'http/json')
      throw invalid(protocol.name, `"${protocol.value}" is not one of grpc, http/protobuf, http/json`);
    exporter.protocol = p;
  }
  const generic = read(env, 'OTEL_EXPORTER_OTLP_HEADERS');
  const specific = read(env, 'OTEL_EXPORTER_OTLP_LOGS_HEADERS');
  if (generic !== undefined || specific !== undefined) {
    exporter.headers = {
      ...(generic === undefined ? {} : parseKeyValueList('OTEL_EXPORTER_OTLP_HEADERS', generic)),
      ...(specific === undefined ? {} : parseKeyValueList('OTEL_EXPORTER_OTLP_LOGS_HEADERS', specific)),
    };
  }
  const timeout = pick(env, 'TIMEOUT');
  if (timeout !== undefined) {
    if (!/^\d+$/.test(timeout.value)) throw invalid(timeout.name, `"${timeout.value}" is not a whole number of milliseconds`);
    const ms = Number(timeout.value);
    exporter.timeoutMillis = ms === 0 || ms > MAX_EXPORT_TIMEOUT_MILLIS ? MAX_EXPORT_TIMEOUT_MILLIS : ms;
  }
  const compression = pick(env, 'COMPRESSION');
  if (compression !== undefined) {
    const c = compression.value.toLowerCase();
    if (c !== 'gzip' && c !== 'none') throw invalid(compression.name, `"${compression.value}" is not one of gzip, none`);
    exporter.compression = c;
  }
  const endpoint = endpointFrom(env, exporter.protocol);
  if (endpoint !== undefined) exporter.endpoint = endpoint;

  const attrsText = read(env, 'OTEL_RESOURCE_ATTRIBUTES');
  const resourceAttributes = attrsText === undefined ? {} : parseKeyValueList('OTEL_RESOURCE_ATTRIBUTES', attrsText);
  const serviceName = read(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'];
  delete resourceAttributes['service.name'];
  return { exporter, resourceAttributes, ...(serviceName === undefined ? {} : { serviceName }) };
}

/** Options shape this module reads and writes (a subset of `AuditLoggerOptions`). */
interface EnvAwareOptions {
  serviceName?: string | undefined;
  resourceAttributes?: Record<string, string | number | boolean> | undefined;
  exporter?: Partial<OtelEnvExporterSettings> | undefined;
  logRecordExporter?: unknown;
  [key: string]: unknown;
}

/**
 * `options` with the environment filled in underneath: every explicit option wins, the variables
 * supply the rest. An explicit `exporter.protocol` also decides how an environment endpoint is
 * read (the generic endpoint gets `v1/logs` only for OTLP/HTTP); an explicit `exporter.endpoint`
 * makes both endpoint variables irrelevant.
 */
export function applyOtelEnvironment<T extends EnvAwareOptions>(options: T, env: Env = process.env): T {
  const fromEnv = readOtelEnvironment(env);
  const explicit = options.exporter ?? {};
  const protocol = explicit.protocol ?? fromEnv.exporter.protocol;
  const envEndpoint = protocol === fromEnv.exporter.protocol ? fromEnv.exporter.endpoint : endpointFrom(env, protocol);
  const exporter: Record<string, unknown> = {
    ...fromEnv.exporter,
    ...(envEndpoint === undefined ? {} : { endpoint: envEndpoint }),
    ...definedOnly(explicit),
    ...(fromEnv.exporter.headers || explicit.headers ? { headers: { ...fromEnv.exporter.headers, ...explicit.headers } } : {}),
  };
  if (envEndpoint === undefined && explicit.endpoint === undefined) delete exporter.endpoint;
  const serviceName = options.serviceName ?? fromEnv.serviceName;
  const hasEnvResource = Object.keys(fromEnv.resourceAttributes).length > 0;
  return {
    ...options,
    ...(Object.keys(exporter).length > 0 ? { exporter } : {}),
    ...(serviceName === undefined ? {} : { serviceName }),
    ...(hasEnvResource ? { resourceAttributes: { ...fromEnv.resourceAttributes, ...options.resourceAttributes } } : {}),
  };
}

function definedOnly(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
