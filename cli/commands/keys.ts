/**
 * `otel-audit keys generate [--name <key name>] [--out-dir <dir>]`: create the Ed25519 key pair that
 * signs checkpoints (C2SP signed notes, Go sumdb/note key format). Writes `<name>-<keyid>.key`
 * (private, mode 0600) and `<name>-<keyid>.pub` (public) and prints the verifier key on stdout.
 *
 * `otel-audit keys verifier-key <signer key file>`: print the verifier key of an existing signer key.
 */
import { AuditError } from '@otel-audit/core';
import { defaultKeyName, generateKeyFiles, loadSigner } from '../../integrity/keys.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit keys generate [--name <key name>] [--out-dir <dir>]
       otel-audit keys verifier-key <signer key file>

generate      create a checkpoint signing key pair (Ed25519) and print the verifier (public) key
  --name      key name, a schema-less URL without spaces or '+' (default otel-audit/<hostname>)
  --out-dir   directory for the key files (default ./otel-audit-data/keys); created with mode 0700
verifier-key  print the verifier key belonging to a signer key file

The private key file gets mode 0600 and is never overwritten. Give the verifier key to whoever
verifies (otel-audit verify --public-key, verify-proof --public-key). To rotate, generate a new pair,
configure the new .key, and keep the old .pub keys in the verifiers' key list.

Exit status: 0 ok, 1 key problem, 2 bad arguments.
`;

/** The `keys` command. */
export const command: Command = {
  summary: 'generate checkpoint signing keys (Ed25519, C2SP signed-note format)',
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      USAGE,
      {
        name: { type: 'string' },
        'out-dir': { type: 'string' },
      },
      true,
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const [sub, ...rest] = positionals;
    if (sub === 'generate') {
      if (rest.length > 0) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `unexpected argument "${rest[0]}"\n${USAGE}`);
      const out = await generateKeyFiles({ name: values.name ?? defaultKeyName(), outDir: values['out-dir'] ?? 'otel-audit-data/keys' });
      process.stderr.write(
        `wrote signer key (secret, mode 0600): ${out.signerPath}\nwrote verifier key: ${out.verifierPath}\nverifier key (public):\n`,
      );
      process.stdout.write(`${out.verifierKey}\n`);
      return 0;
    }
    if (sub === 'verifier-key') {
      if (rest.length !== 1 || values.name !== undefined || values['out-dir'] !== undefined) {
        throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `verifier-key takes exactly one signer key file\n${USAGE}`);
      }
      const signer = await loadSigner(rest[0]!, { onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
      process.stdout.write(`${signer.verifierKey}\n`);
      return 0;
    }
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}\n${USAGE}`,
    );
  },
};

export default command;
