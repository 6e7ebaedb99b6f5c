/**
 * `otel-audit dead-letters [--data-dir <dir>] [--limit <n>] [--since <RFC 3339>] [--json]`: print the
 * records the receiver rejected (newest last) with the reason, time and transport. Reads the files
 * directly, so it works while a receiver runs and after it stopped.
 */
import { AuditError } from '@otel-audit/core';
import { readDeadLetters } from '../../receiver/dead-letter/index.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit dead-letters [--data-dir <dir>] [--limit <n>] [--since <time>] [--json]

Print rejected records (invalid, wrong tenant, non-audit under nonAudit: reject), newest last.
  --data-dir  receiver data directory (default ./otel-audit-data)
  --limit     print at most this many of the newest letters (default 100)
  --since     only letters rejected at or after this RFC 3339 time
  --json      one JSON object per line (the stored form, including the original record)

Exit status: 0 ok, 2 bad arguments.
`;

/** The `dead-letters` command. */
export const command: Command = {
  summary: 'show records the receiver rejected, with the reason',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      'data-dir': { type: 'string' },
      limit: { type: 'string' },
      since: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--limit must be a positive integer, got "${values.limit}"`);
    if (values.since !== undefined && Number.isNaN(Date.parse(values.since))) {
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--since must be an RFC 3339 time, got "${values.since}"`);
    }
    const since = values.since === undefined ? undefined : new Date(values.since).toISOString();
    const letters = await readDeadLetters(values['data-dir'] ?? 'otel-audit-data', { limit, ...(since ? { since } : {}) });
    if (values.json) {
      process.stdout.write(letters.map((l) => JSON.stringify(l)).join('\n') + (letters.length ? '\n' : ''));
      return 0;
    }
    if (letters.length === 0) {
      process.stdout.write('no dead letters\n');
      return 0;
    }
    for (const l of letters) {
      const who = l.principal ? ` token=${l.principal}` : '';
      process.stdout.write(`${l.time} ${l.transport}${who} record ${l.recordIndex} ${l.code}: ${l.reason}\n`);
    }
    return 0;
  },
};
