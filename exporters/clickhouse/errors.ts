/**
 * Sorting ClickHouse failures into "try again later" and "will never succeed". The exporter's
 * runner keeps retrying either way (an audit pipeline never drops), but a permanent failure is
 * reported as failing with a message that tells the operator what to fix.
 */
import { AuditError, type AuditErrorCode } from '@otel-audit/core';

/**
 * Server error codes that mean the data or the schema is wrong: retrying the same batch cannot
 * help until someone changes the schema or the data (numbers from ClickHouse's ErrorCodes.cpp).
 */
export const PERMANENT_CLICKHOUSE_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  [16, 'NO_SUCH_COLUMN_IN_TABLE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [43, 'ILLEGAL_TYPE_OF_ARGUMENT'],
  [47, 'UNKNOWN_IDENTIFIER'],
  [53, 'TYPE_MISMATCH'],
  [60, 'UNKNOWN_TABLE'],
  [62, 'SYNTAX_ERROR'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [81, 'UNKNOWN_DATABASE'],
  [115, 'UNKNOWN_SETTING'],
  [117, 'INCORRECT_DATA'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [164, 'READONLY'],
  [192, 'UNKNOWN_USER'],
  [193, 'WRONG_PASSWORD'],
  [194, 'REQUIRED_PASSWORD'],
  [497, 'ACCESS_DENIED'],
  [516, 'AUTHENTICATION_FAILED'],
]);

/** The ClickHouse error code of an error thrown by `@clickhouse/client` (or chDB), if any. */
export function clickHouseCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  if (typeof code === 'number') return code;
  const m = /Code: (\d+)\./.exec(String((err as Error | null)?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** True when the error is a permanent schema/data/permission problem. */
export function isPermanentClickHouseError(err: unknown): boolean {
  const code = clickHouseCode(err);
  return code !== undefined && PERMANENT_CLICKHOUSE_CODES.has(code);
}

/** Classification of a failed ClickHouse call. */
export interface ClassifiedError {
  retryable: boolean;
  error: AuditError;
}

/**
 * Classify a failure of `what` (e.g. "insert of LSN 1-100"): network errors, timeouts and every
 * server error not known to be permanent are retryable (`AUDIT_ERR_STORE_UNAVAILABLE`);
 * schema/type/permission errors are permanent (`permanentCode`).
 */
export function classifyClickHouseError(
  err: unknown,
  what: string,
  permanentCode: AuditErrorCode = 'AUDIT_ERR_EXPORT_FAILED',
): ClassifiedError {
  const code = clickHouseCode(err);
  const message = (err as Error | null)?.message ?? String(err);
  const type = (err as { type?: unknown } | null)?.type;
  const details: Record<string, unknown> = {};
  if (code !== undefined) details.clickhouseCode = code;
  if (typeof type === 'string') details.clickhouseType = type;
  const net = (err as { code?: unknown } | null)?.code;
  if (typeof net === 'string' && !/^\d+$/.test(net)) details.errno = net;
  if (code !== undefined && PERMANENT_CLICKHOUSE_CODES.has(code)) {
    const name = PERMANENT_CLICKHOUSE_CODES.get(code)!;
    return {
      retryable: false,
      error: new AuditError(permanentCode, `${what}: ClickHouse rejected it permanently (${name}, code ${code}): ${message}`, {
        cause: err,
        details,
      }),
    };
  }
  return {
    retryable: true,
    error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', `${what}: ${message}`, { cause: err, retryable: true, details }),
  };
}
