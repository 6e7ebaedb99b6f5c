/**
 * Public API of the integrity library (docs/integrity.md). Exports by name:
 *
 * - merkle.ts — RFC 6962 tree hashing, compact tree state, inclusion/consistency proofs from a
 *   leaf source, RFC 9162 verification, tiles;
 * - note.ts / checkpoint.ts — C2SP signed notes (Ed25519, Go sumdb/note keys) and tlog checkpoints;
 * - keys.ts — key files (generate, loadSigner, loadVerifierKeys);
 * - checkpointer.ts — the checkpointer core and the checkpoint record;
 * - proof-bundle.ts — offline proof bundles (`verifyProofBundle` is what the SDK re-exports);
 * - verify-chain.ts — store-agnostic chain verification;
 * - chain-hash.ts / entry-hash.ts — the entry hash (definition and fast path).
 */

export type { ChainVersion } from './chain-hash.ts';
export {
  CURRENT_CHAIN_VERSION,
  canonicalEventJson,
  computeEntryHash,
  computeEntryHashFromCanonical,
  eventDigest,
  GENESIS_HASH,
  linkHashV2,
  parseChainVersion,
} from './chain-hash.ts';
export type { Checkpoint, CheckpointFailureKind, CheckpointOpen, CheckpointParse } from './checkpoint.ts';
export { checkpointOrigin, formatCheckpoint, ORIGIN_PREFIX, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
export type {
  ChainCheckpointStatus,
  Checkpointer,
  CheckpointerOptions,
  CheckpointPolicy,
  CheckpointPolicyInput,
  CheckpointRecord,
  CheckpointRecordCheck,
  CheckpointRecordProblem,
} from './checkpointer.ts';
export {
  CHECKPOINT_RECORD_VERSION,
  createCheckpointer,
  createCheckpointPolicy,
  DEFAULT_CHECKPOINT_POLICY,
  verifyCheckpointRecord,
} from './checkpointer.ts';
export { fastCanonicalJson, fastEntryHash } from './entry-hash.ts';
export type { GeneratedKeyFiles } from './keys.ts';
export { defaultKeyName, generateKeyFiles, loadSigner, loadVerifierKeys } from './keys.ts';
export type { LeafInput, LeafRange, LeafSource, ProofCheck, RootFromProof, TreeStateSnapshot } from './merkle.ts';
export {
  arrayLeafSource,
  consistencyProof,
  consistencyProofRanges,
  EMPTY_ROOT,
  HASH_SIZE,
  hashToHex,
  hexToHash,
  inclusionProof,
  inclusionProofRanges,
  isHashHex,
  LEAF_FETCH_CHUNK,
  leafHash,
  merkleRoot,
  nodeHash,
  rangeRoot,
  rootFromInclusionProof,
  sha256,
  splitPoint,
  TILE_HEIGHT,
  TreeState,
  tiledLeafSource,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
export type {
  NoteFailureKind,
  NoteOpen,
  NoteParse,
  NoteSignature,
  NoteSigner,
  NoteVerifier,
  ParsedNote,
  VerifierKeys,
  VerifierSet,
} from './note.ts';
export {
  ALG_ED25519,
  createVerifierSet,
  ed25519KeyId,
  generateNoteKeyPair,
  isValidKeyName,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  noteSignerFromSeed,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  SIGNATURE_PREFIX,
  signNote,
  toVerifierSet,
} from './note.ts';
export type {
  ProofBundle,
  ProofBundleInput,
  ProofBundleResult,
  ProofBundleVerified,
  ProofProblem,
  ProofProblemKind,
} from './proof-bundle.ts';
export { createProofBundle, PROOF_BUNDLE_FORMAT, PROOF_BUNDLE_VERSION, proveEntry, verifyProofBundle } from './proof-bundle.ts';
export { auditRowToChainEntry, walEntryToChainEntry } from './store-entries.ts';
export type {
  ChainEntryInput,
  ChainProblem,
  ChainProblemKind,
  ChainVerifyOptions,
  ChainVerifyResult,
  ChainVerifyStats,
} from './verify-chain.ts';
export { verifyChainEntries } from './verify-chain.ts';
