import { isAuditError } from '@otel-audit/core';
import { applyOtelEnvironment, parseAuditLoggerOptions, readOtelEnvironment } from '@otel-audit/sdk';
import { describe, expect, it } from 'vitest';

/** The exporter settings and resource the SDK ends up with for these options and variables. */
function resolved(env: Record<string, string>, options: Record<string, unknown> = {}) {
  const o = parseAuditLoggerOptions({ delivery: 'memory', ...options }, env);
  return { exporter: o.exporter, serviceName: o.serviceName, resourceAttributes: o.resourceAttributes };
}

function configError(fn: () => unknown): { path: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    if (isAuditError(err, 'AUDIT_ERR_INVALID_CONFIG')) return { path: err.path, message: err.message };
    throw err;
  }
  throw new Error('expected AUDIT_ERR_INVALID_CONFIG');
}

describe('OTel environment variables', () => {
  it('without variables the built-in defaults hold', () => {
    expect(resolved({}).exporter).toEqual({
      protocol: 'http/protobuf',
      endpoint: 'http://127.0.0.1:4318/v1/logs',
      headers: {},
      timeoutMillis: 10_000,
      compression: 'none',
    });
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SERVICE_NAME: '  ' }).exporter.endpoint).toBe('http://127.0.0.1:4318/v1/logs'); // empty = unset
  });

  it('generic endpoint: a base URL to which OTLP/HTTP appends v1/logs (spec examples 1 and 3)', () => {
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).exporter.endpoint).toBe('http://collector:4318/v1/logs');
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).exporter.endpoint).toBe('http://collector:4318/v1/logs');
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/mycollector/' }).exporter.endpoint).toBe(
      'http://collector:4318/mycollector/v1/logs',
    );
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example.com/otlp' }).exporter.endpoint).toBe(
      'https://collector.example.com/otlp/v1/logs',
    );
  });

  it('logs endpoint: used as-is, a URL without a path gets "/" (spec example 2), and it wins over the generic one', () => {
    expect(resolved({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://collector:4318' }).exporter.endpoint).toBe('http://collector:4318/');
    expect(resolved({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://c.example.com/v1/logs/' }).exporter.endpoint).toBe(
      'https://c.example.com/v1/logs/',
    );
    expect(
      resolved({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://a:1/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:2' }).exporter.endpoint,
    ).toBe('http://a:1/custom');
  });

  it('gRPC: both endpoint variables are used as-is', () => {
    expect(resolved({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).exporter).toMatchObject({
      protocol: 'grpc',
      endpoint: 'http://collector:4317',
    });
    // An explicit protocol decides how the generic endpoint is read.
    expect(resolved({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }, { exporter: { protocol: 'grpc' } }).exporter.endpoint).toBe(
      'http://collector:4317',
    );
    expect(
      resolved(
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' },
        { exporter: { protocol: 'http/json' } },
      ).exporter,
    ).toMatchObject({ protocol: 'http/json', endpoint: 'http://c:4318/v1/logs' });
  });

  it('signal-specific over generic, explicit options over both, for every exporter setting', () => {
    const env = {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'HTTP/JSON',
      OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
      OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '7000',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'none',
      OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20generic,x-tenant=acme',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'authorization=Bearer%20logs',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://generic:4318',
    };
    expect(resolved(env).exporter).toEqual({
      protocol: 'http/json',
      endpoint: 'http://generic:4318/v1/logs',
      headers: { authorization: 'Bearer logs', 'x-tenant': 'acme' },
      timeoutMillis: 7000,
      compression: 'gzip',
    });
    const explicit = {
      exporter: {
        protocol: 'http/protobuf',
        endpoint: 'http://explicit:9/v1/logs',
        timeoutMillis: 1000,
        compression: 'none',
        headers: { authorization: 'Bearer explicit' },
      },
    };
    expect(resolved(env, explicit).exporter).toEqual({
      protocol: 'http/protobuf',
      endpoint: 'http://explicit:9/v1/logs',
      headers: { authorization: 'Bearer explicit', 'x-tenant': 'acme' },
      timeoutMillis: 1000,
      compression: 'none',
    });
    expect(resolved({ OTEL_EXPORTER_OTLP_TIMEOUT: '0' }).exporter.timeoutMillis).toBe(600_000); // 0 = no limit → the SDK's maximum
  });

  it('service name and resource attributes: percent-decoded, OTEL_SERVICE_NAME over service.name, explicit over both', () => {
    const env = { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment=prod,team=a%2Cb%3Dc, region = eu-west-1 ' };
    expect(resolved(env)).toMatchObject({
      serviceName: 'from-attrs',
      resourceAttributes: { 'deployment.environment': 'prod', team: 'a,b=c', region: 'eu-west-1' },
    });
    expect(resolved({ ...env, OTEL_SERVICE_NAME: 'billing' }).serviceName).toBe('billing');
    expect(
      resolved({ ...env, OTEL_SERVICE_NAME: 'billing' }, { serviceName: 'explicit', resourceAttributes: { team: 'z' } }),
    ).toMatchObject({
      serviceName: 'explicit',
      resourceAttributes: { 'deployment.environment': 'prod', team: 'z', region: 'eu-west-1' },
    });
  });

  it('a set but invalid variable fails naming the variable', () => {
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'thrift' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'ftp://x/' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_TIMEOUT',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_COMPRESSION',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization' }))).toMatchObject({
      path: 'OTEL_EXPORTER_OTLP_HEADERS',
    });
    expect(configError(() => readOtelEnvironment({ OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A' }))).toMatchObject({
      path: 'OTEL_RESOURCE_ATTRIBUTES',
    });
    // Through createAuditLogger's option parsing too.
    expect(configError(() => parseAuditLoggerOptions({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' })).message).toMatch(
      /OTEL_EXPORTER_OTLP_PROTOCOL: "udp" is not one of/,
    );
  });

  it('applyOtelEnvironment leaves options alone when no variable is set', () => {
    const options = { serviceName: 's', exporter: { endpoint: 'http://x:1/v1/logs' } };
    expect(applyOtelEnvironment(options, {})).toEqual(options);
  });
});
