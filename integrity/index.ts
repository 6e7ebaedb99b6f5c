/**
 * Public API of the integrity library (issue 6; docs/integrity.md). Exports by name:
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
export {
  EMPTY_ROOT,
  HASH_SIZE,
  LEAF_FETCH_CHUNK,
  TILE_HEIGHT,
  TreeState,
  arrayLeafSource,
  consistencyProof,
  consistencyProofRanges,
  hashToHex,
  hexToHash,
  inclusionProof,
  inclusionProofRanges,
  isHashHex,
  leafHash,
  merkleRoot,
  nodeHash,
  rangeRoot,
  rootFromInclusionProof,
  sha256,
  splitPoint,
  tiledLeafSource,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
export type { LeafInput, LeafRange, LeafSource, ProofCheck, RootFromProof, TreeStateSnapshot } from './merkle.ts';
export {
  ALG_ED25519,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  SIGNATURE_PREFIX,
  createVerifierSet,
  ed25519KeyId,
  generateNoteKeyPair,
  isValidKeyName,
  noteSignerFromSeed,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  toVerifierSet,
} from './note.ts';
export type { NoteFailureKind, NoteOpen, NoteParse, NoteSignature, NoteSigner, NoteVerifier, ParsedNote, VerifierKeys, VerifierSet } from './note.ts';
export { ORIGIN_PREFIX, checkpointOrigin, formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
export type { Checkpoint, CheckpointFailureKind, CheckpointOpen, CheckpointParse } from './checkpoint.ts';
export { fastCanonicalJson, fastEntryHash } from './entry-hash.ts';
export {
  CHECKPOINT_RECORD_VERSION,
  DEFAULT_CHECKPOINT_POLICY,
  createCheckpointPolicy,
  createCheckpointer,
  verifyCheckpointRecord,
} from './checkpointer.ts';
export type {
  ChainCheckpointStatus,
  CheckpointPolicy,
  CheckpointPolicyInput,
  CheckpointRecord,
  CheckpointRecordCheck,
  CheckpointRecordProblem,
  Checkpointer,
  CheckpointerOptions,
} from './checkpointer.ts';
export { PROOF_BUNDLE_FORMAT, PROOF_BUNDLE_VERSION, createProofBundle, proveEntry, verifyProofBundle } from './proof-bundle.ts';
export type { ProofBundle, ProofBundleInput, ProofBundleResult, ProofBundleVerified, ProofProblem, ProofProblemKind } from './proof-bundle.ts';
export { verifyChainEntries } from './verify-chain.ts';
export type { ChainEntryInput, ChainProblem, ChainProblemKind, ChainVerifyOptions, ChainVerifyResult, ChainVerifyStats } from './verify-chain.ts';
export { CURRENT_CHAIN_VERSION, GENESIS_HASH, canonicalEventJson, computeEntryHash, computeEntryHashFromCanonical, eventDigest, linkHashV2, parseChainVersion } from './chain-hash.ts';
export type { ChainVersion } from './chain-hash.ts';
export { defaultKeyName, generateKeyFiles, loadSigner, loadVerifierKeys } from './keys.ts';
export type { GeneratedKeyFiles } from './keys.ts';
export { auditRowToChainEntry, walEntryToChainEntry } from './store-entries.ts';
