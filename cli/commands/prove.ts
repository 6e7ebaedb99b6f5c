/**
 * `otel-audit prove <eventId> [--source clickhouse|archive|wal] [--out file] [--public-key …]`:
 * find the event, its chain and seq, the first signed checkpoint covering it, build the RFC 9162
 * §2.1.3 inclusion path from the store's leaf hashes (through the tile hashes of the checkpoint
 * records, C2SP tlog-tiles, so at most 256 leaves are read) and write a self-contained proof
 * bundle that `otel-audit verify-proof <file> --public-key <key>` checks offline.
 *
 * Exit 0 written, 1 not found / not yet covered by a checkpoint / the store cannot give the path,
 * 2 bad arguments.
 */
import { writeFile } from 'node:fs/promises';
import { AuditError } from '@otel-audit/core';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { TILE_HEIGHT, tiledLeafSource } from '../../integrity/merkle.ts';
import { proveEntry, verifyProofBundle } from '../../integrity/proof-bundle.ts';
import { parseCommandArgs } from '../args.ts';
import { openStoreView, STORE_LOCATION_FLAGS, type StoreLocationOptions } from '../integrity/open-store.ts';
import type { StoreSource, StoreView } from '../integrity/stores.ts';
import type { Command } from '../registry.ts';
import { resolveVerifierKeys } from './verify.ts';

const USAGE = `usage: otel-audit prove <eventId> [options]

Writes a proof bundle for one event: the event, its chain entry, its leaf index, the inclusion path
and the signed checkpoint that covers it. Check it anywhere with:
  otel-audit verify-proof <file> --public-key <key>

  --source <s>         clickhouse (default) | archive | wal
  --out <file>         write the bundle here (default: stdout)
  --public-key <k>     verify the bundle with this key before writing it (repeatable; key or file).
                       Default: the key otel-audit verify would use (configured, <data-dir>/keys,
                       or the running receiver's), when there is one
  --data-dir, --config, --url, --pathname, --user, --password, --archive   as for otel-audit verify

Exit status: 0 written, 1 event not found or not yet covered by a checkpoint, 2 bad arguments.
`;

/** Tile hashes (C2SP tlog-tiles) recorded in a chain's checkpoint records, by tile index. */
function tilesOf(records: ReadonlyArray<CheckpointRecord>): Map<number, string> {
  const tiles = new Map<number, string>();
  for (const r of records)
    r.tiles?.hashes.forEach((h, i) => {
      tiles.set(r.tiles!.first + i, h);
    });
  return tiles;
}

/**
 * Build the proof bundle of `eventId` from a store view: the first checkpoint whose tree covers the
 * event, and the RFC 9162 §2.1.3.1 audit path from the store's entry hashes and the recorded tiles.
 * Throws `AUDIT_ERR_INVALID_ARGUMENT` when the event is unknown or not yet covered by a checkpoint,
 * `AUDIT_ERR_INTEGRITY` when the store lacks entries the path needs.
 */
export async function proveFromStore(view: StoreView, eventId: string): Promise<ReturnType<typeof proveEntry>> {
  const entry = await view.findEvent(eventId);
  if (entry === undefined)
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `event ${eventId} is not in ${view.source} (${view.location})`);
  const records = (await view.checkpoints(entry.chainId))
    .filter((r) => Number.isSafeInteger(r.treeSize))
    .sort((a, b) => a.treeSize - b.treeSize);
  const checkpoint = records.find((r) => r.treeSize >= entry.seq);
  if (checkpoint === undefined) {
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `event ${eventId} (chain ${entry.chainId} seq ${entry.seq}) is not covered by a checkpoint in ${view.source} yet; the next checkpoint will cover it`,
    );
  }
  const tiles = tilesOf(records);
  const width = 2 ** TILE_HEIGHT;
  const leaves = tiledLeafSource({
    getLeaves: (start, end) => view.leafHashes(entry.chainId, start, end),
    getTile: (index) => ((index + 1) * width <= checkpoint.treeSize ? tiles.get(index) : undefined),
  });
  return proveEntry({
    event: entry.event,
    entry: {
      chainId: entry.chainId,
      seq: entry.seq,
      prevHash: entry.prevHash,
      hash: entry.hash,
      ...(entry.chainVersion !== undefined ? { chainVersion: entry.chainVersion } : {}),
    },
    checkpoint,
    leaves,
  });
}

/** The `prove` command. */
export const command: Command = {
  summary: 'write an offline-verifiable inclusion proof bundle for one event',
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      USAGE,
      {
        source: { type: 'string' },
        out: { type: 'string' },
        'public-key': { type: 'string', multiple: true },
        ...STORE_LOCATION_FLAGS,
      },
      true,
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `expected exactly one event id\n${USAGE}`);
    const source = values.source ?? 'clickhouse';
    if (source !== 'wal' && source !== 'clickhouse' && source !== 'archive')
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--source: "${source}" is not one of clickhouse, archive, wal`);
    const location: StoreLocationOptions = {
      ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
      ...(values.config !== undefined ? { config: values.config } : {}),
      ...(values.url !== undefined ? { url: values.url } : {}),
      ...(values.pathname !== undefined ? { pathname: values.pathname } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
      ...(values.archive !== undefined ? { archive: values.archive } : {}),
    };
    // Without --public-key the bundle is still checked when a key can be found (and said where from).
    const keys =
      values['public-key'] && values['public-key'].length > 0
        ? await resolveVerifierKeys(values['public-key'], location)
        : // No key to be found is not an error here: the bundle is written unchecked, and whoever
          // receives it checks it with verify-proof and their own copy of the verifier key.
          await resolveVerifierKeys([], location).catch(() => undefined);
    const view = await openStoreView(source as StoreSource, location, {});
    let bundle: Awaited<ReturnType<typeof proveFromStore>>;
    try {
      bundle = await proveFromStore(view, positionals[0]!);
    } catch (err) {
      if (err instanceof AuditError && (err.code === 'AUDIT_ERR_INVALID_ARGUMENT' || err.code === 'AUDIT_ERR_INTEGRITY')) {
        process.stderr.write(`otel-audit prove: ${err.message}\n`);
        return 1;
      }
      throw err;
    } finally {
      await view.close();
    }
    if (keys) {
      const check = verifyProofBundle(bundle, keys);
      if (!check.ok) {
        process.stderr.write(
          `otel-audit prove: the bundle built from ${source} does not verify (the store was tampered with?):\n${check.problems.map((p) => `  - ${p.kind}: ${p.message}`).join('\n')}\n`,
        );
        return 1;
      }
    }
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (values.out !== undefined) {
      await writeFile(values.out, text);
      process.stderr.write(
        `proof of event ${positionals[0]} (chain ${bundle.entry.chainId} seq ${bundle.entry.seq}, tree size ${bundle.treeSize}) written to ${values.out}\n`,
      );
    } else process.stdout.write(text);
    return 0;
  },
};

export default command;
