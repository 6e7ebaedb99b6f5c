/**
 * `otel-audit verify-proof <file> --public-key <key|file> [--public-key …] [--json]`: check a proof
 * bundle (from `otel-audit prove`) offline, with no access to any store: the event's entry hash, the
 * inclusion path to the checkpoint root, and the checkpoint's signature by a trusted key.
 * Exit 0 when it verifies, 1 with the precise problems, 2 for bad arguments or unreadable input.
 */
import { readFile } from 'node:fs/promises';
import { AuditError } from '@otel-audit/core';
import { verifyProofBundle } from '../../integrity/proof-bundle.ts';
import { parseCommandArgs } from '../args.ts';
import { type KeyLocationOptions, resolveVerifierKeys } from '../integrity/verifier-keys.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit verify-proof <proof.json | -> [--public-key <key | file> ...] [--json]

Verifies a proof bundle offline: the event hashes to its chain entry, the inclusion path leads to
the root of the signed checkpoint, and the checkpoint is signed by one of the trusted keys.
  --public-key  a verifier key (<name>+<keyid>+<base64>) or a file of them, one per line; repeat
                the option (or list old and new keys in the file) to accept rotated keys.
                Default: the key otel-audit verify would use (configured, <data-dir>/keys, or the
                running receiver's); a key found that way proves consistency, not authenticity
  --data-dir, --config, --url   where to look for that key (as for otel-audit verify)
  --json        print the result as JSON on stdout

Exit status: 0 verified, 1 not verified (each problem is listed), 2 bad arguments or unreadable file.
`;

async function readInput(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `cannot read proof file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      { cause: err },
    );
  }
}

/** The `verify-proof` command. */
export const command: Command = {
  summary: 'verify a proof bundle offline against a public key',
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      USAGE,
      {
        'public-key': { type: 'string', multiple: true },
        json: { type: 'boolean' },
        'data-dir': { type: 'string' },
        config: { type: 'string' },
        url: { type: 'string' },
      },
      true,
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `expected exactly one proof file\n${USAGE}`);
    const location: KeyLocationOptions = {
      ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
      ...(values.config !== undefined ? { config: values.config } : {}),
      ...(values.url !== undefined ? { url: values.url } : {}),
    };
    // A bad --public-key is an argument problem (exit 2), not a failed verification.
    const keys = await resolveVerifierKeys(values['public-key'] ?? [], location);
    const file = positionals[0]!;
    const text = await readInput(file);
    let bundle: unknown;
    let result: ReturnType<typeof verifyProofBundle>;
    try {
      bundle = JSON.parse(text);
      result = verifyProofBundle(bundle, keys);
    } catch (err) {
      result = { ok: false as const, problems: [{ kind: 'malformed-bundle' as const, message: `not JSON: ${(err as Error).message}` }] };
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file, ...result }, null, 2)}\n`);
    } else if (result.ok) {
      process.stdout.write(
        `verified: event ${result.eventId ?? '(no eventId)'} is entry seq ${result.seq} of chain ${result.chainId},\n` +
          `included in the checkpoint of ${result.origin} at tree size ${result.treeSize} (root ${result.rootHash}),\n` +
          `signed by ${result.signedBy.join(', ')}\n`,
      );
    } else {
      process.stdout.write(
        `NOT verified: ${file}\n${result.problems.map((p) => `  - ${p.kind}${'path' in p && p.path ? ` (${p.path})` : ''}: ${p.message}`).join('\n')}\n`,
      );
    }
    return result.ok ? 0 : 1;
  },
};

export default command;
