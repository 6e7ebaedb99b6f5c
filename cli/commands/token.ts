/**
 * `otel-audit token generate|hash`: bearer tokens for the receiver. The receiver's config holds only
 * SHA-256 hashes (`auth.tokens[].sha256`); clients send the token itself.
 */
import { AuditError } from '@otel-audit/core';
import { generateToken, hashToken } from '../../receiver/auth/index.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit token generate        print a new random token and its sha256 for the config
       otel-audit token hash [<token>]   print the sha256 of a token (read from stdin when omitted)
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** The `token` command. */
export const command: Command = {
  summary: 'generate a bearer token or hash one for auth.tokens[].sha256',
  async run(args) {
    const [sub, value, ...rest] = args;
    if (sub === 'generate' && value === undefined) {
      const token = generateToken();
      process.stdout.write(`token:  ${token}\nsha256: ${hashToken(token)}\n`);
      return 0;
    }
    if (sub === 'hash' && rest.length === 0) {
      const token = value ?? (await readStdin());
      if (token === '') throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'no token given (argument or stdin)');
      process.stdout.write(`${hashToken(token)}\n`);
      return 0;
    }
    if (sub === '--help' || sub === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `unknown arguments: ${args.join(' ') || '(none)'}\n${USAGE}`);
  },
};
