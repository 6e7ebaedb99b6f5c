import { isAuditError, parseConfig } from '@otel-audit/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromEnv, mergeConfig } from '../../receiver/config/load-config.ts';

describe('config parsing', () => {
  const schema = z.strictObject({
    http: z.strictObject({ port: z.number().int().min(0).max(65535).default(4318) }).prefault({}),
  });

  it('fills defaults and names the bad key with its full path', () => {
    expect(parseConfig(schema, undefined)).toEqual({ http: { port: 4318 } });
    try {
      parseConfig(schema, { http: { port: 70000, colour: 'red' } }, 'receiver');
      expect.unreachable();
    } catch (err) {
      expect(isAuditError(err, 'AUDIT_ERR_INVALID_CONFIG')).toBe(true);
      expect((err as Error).message).toContain('receiver.http.port');
      expect((err as Error).message).toContain('receiver.http.colour');
    }
  });

  it('maps OTEL_AUDIT_* variables onto camelCase paths and merges sources in order', () => {
    const env = configFromEnv({ OTEL_AUDIT_RECEIVER__HTTP__PORT: '4319', OTEL_AUDIT_DATA_DIR: '/tmp/x', OTHER: '1' });
    expect(env).toEqual({ receiver: { http: { port: 4319 } }, dataDir: '/tmp/x' });
    expect(mergeConfig({ receiver: { http: { port: 1, host: 'a' } } }, env)).toEqual({
      receiver: { http: { port: 4319, host: 'a' } },
      dataDir: '/tmp/x',
    });
  });
});
