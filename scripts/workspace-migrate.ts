/**
 * The mechanical part of the npm workspaces layout (docs/decisions.md, "npm workspaces"):
 *
 * 1. moves files to their package (`git mv`, table {@link MOVES});
 * 2. rewrites every relative import in the tree that crosses a package boundary into a bare
 *    specifier: `@otel-audit/core` when the package's `index.ts` re-exports every imported name
 *    from that module, `@otel-audit/core/<path>` (the packages' `./*` export) otherwise; imports
 *    inside one package stay relative and are re-pointed at moved files;
 * 3. inside a file that moved, re-points `new URL('<relative path>', import.meta.url)` literals at
 *    the same target from the new location;
 * 4. replaces mentions of a moved file's old path in comments and Markdown (not in
 *    docs/decisions.md, a history).
 *
 * Idempotent: run it again on a tree where other branches added files importing
 * `../common/errors.ts`, `../../schema/audit-event.ts` etc. and it rewrites only those. It fails
 * (exit 1, nothing written for that import) when a workspace package (core, schema, sdk) imports
 * from the root package, which would not be in its tarball.
 *
 * Usage: `npm run workspace:migrate` (or `node scripts/workspace-migrate.ts [--dry-run]`), then
 * `npm run typecheck`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DRY_RUN = process.argv.includes('--dry-run');

/** Old path → new path, repository-relative (POSIX separators). */
export const MOVES: ReadonlyArray<readonly [string, string]> = [
  ['common/errors.ts', 'core/errors.ts'],
  ['common/config.ts', 'core/config.ts'],
  // Test oracles out of the shipped folders (used by tests, benchmarks and an example only).
  ['receiver/otlp/protobufjs-decoder.ts', 'test/receiver/helpers/protobufjs-decoder.ts'],
  ['integrity/parallel-hash.ts', 'test/integrity/helpers/parallel-hash.ts'],
  ['integrity/entry-hash-worker.ts', 'test/integrity/helpers/entry-hash-worker.ts'],
];

/** Workspace packages by top-level folder; every other folder belongs to the root package. */
const PACKAGES: Record<string, string> = { core: '@otel-audit/core', schema: '@otel-audit/schema', sdk: '@otel-audit/sdk' };
const ROOT_PACKAGE = 'otel-audit';
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'results', 'coverage', '.tmp']);
const CODE_EXT = /\.(ts|mts|cts|js|mjs)$/;

const posix = (p: string): string => p.split(sep).join('/');
const packageOf = (repoPath: string): string => PACKAGES[repoPath.split('/')[0] ?? ''] ?? ROOT_PACKAGE;
const packageDir = (pkg: string): string | undefined => Object.entries(PACKAGES).find(([, name]) => name === pkg)?.[0];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    if (SKIP_DIRS.has(name)) continue;
    const rel = dir ? `${dir}/${name}` : name;
    const st = statSync(join(ROOT, rel));
    if (st.isDirectory()) walk(rel, out);
    else if (CODE_EXT.test(name) || name.endsWith('.md')) out.push(rel);
  }
  return out;
}

const moveTarget = (repoPath: string): string => MOVES.find(([from]) => from === repoPath)?.[1] ?? repoPath;

// 1. Moves.
let failures = 0;
/** Files moved by this run (their `new URL` literals still point from the old place). */
const movedNow = new Set<string>();
for (const [from, to] of MOVES) {
  const hasFrom = existsSync(join(ROOT, from));
  const hasTo = existsSync(join(ROOT, to));
  if (hasFrom && hasTo) {
    console.error(`both ${from} and ${to} exist: merge ${from} into ${to} by hand, delete it, and run again`);
    failures++;
  } else if (hasFrom) {
    console.log(`move ${from} -> ${to}`);
    if (!DRY_RUN) {
      mkdirSync(dirname(join(ROOT, to)), { recursive: true });
      execFileSync('git', ['mv', from, to], { cwd: ROOT, stdio: 'inherit' });
      movedNow.add(to);
    }
  }
}
if (failures > 0) process.exit(1);

const files = walk('');
// A file's old location: the specifiers inside a file moved by this run are still relative to it
// (a file moved by an earlier run was rewritten then).
const oldLocation = new Map<string, string>(MOVES.map(([from, to]) => [to, from]));
const resolveSpecifier = (file: string, spec: string): string => {
  const base = movedNow.has(file) ? oldLocation.get(file)! : file;
  return moveTarget(posix(normalize(join(dirname(base), spec))));
};
const exists = (repoPath: string): boolean =>
  existsSync(join(ROOT, DRY_RUN ? (MOVES.find(([, to]) => to === repoPath)?.[0] ?? repoPath) : repoPath));

// Names each package index re-exports, by the (new) module they come from.
const IMPORT_RE =
  /(\b(?:import|export)\b(?:\s+type)?\s*(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)?\s*(?:from\s*)?|\bimport\s*\(\s*)(['"])(\.\.?\/[^'"\n]+?)\3/g;
const namesOf = (clause: string | undefined): string[] | undefined => {
  const braces = clause?.match(/\{([^}]*)\}/);
  if (!braces || /^\s*\w+\s*,/.test(clause ?? '') || clause?.trim().startsWith('*')) return undefined;
  return braces[1]!
    .split(',')
    .map((s) => s.trim().replace(/^type\s+/, ''))
    .filter((s) => s !== '')
    .map((s) => s.split(/\s+as\s+/)[0]!.trim());
};
const indexExports = new Map<string, Map<string, Set<string>>>();
for (const dir of Object.keys(PACKAGES)) {
  const index = `${dir}/index.ts`;
  const byModule = new Map<string, Set<string>>();
  if (existsSync(join(ROOT, index))) {
    const text = readFileSync(join(ROOT, index), 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      if (!m[0].trimStart().startsWith('export')) continue;
      const target = resolveSpecifier(index, m[4]!);
      const names = namesOf(m[2]) ?? [];
      const set = byModule.get(target) ?? new Set<string>();
      for (const n of names) set.add(n);
      byModule.set(target, set);
    }
  }
  indexExports.set(PACKAGES[dir]!, byModule);
}

/** The explicit (non-pattern) export keys of a workspace package, e.g. `./outbox`. */
function explicitExports(dir: string): Set<string> {
  const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { exports?: Record<string, unknown> };
  return new Set(Object.keys(manifest.exports ?? {}).filter((k) => !k.includes('*')));
}

// 2 + 3. Rewrites.
let changedFiles = 0;
const SELF = 'scripts/workspace-migrate.ts';
/** Records of past decisions keep the paths they were written with. */
const HISTORY = new Set(['docs/decisions.md']);
for (const file of files) {
  if (file === SELF || HISTORY.has(file)) continue; // the move table and the history name old paths on purpose
  const path = join(ROOT, file);
  const before = readFileSync(path, 'utf8');
  let text = before;
  if (CODE_EXT.test(file)) {
    text = text.replace(IMPORT_RE, (whole: string, head: string, clause: string | undefined, quote: string, spec: string) => {
      const target = resolveSpecifier(file, spec);
      if (!exists(target)) return whole; // not a file of this tree (or not there yet): leave it
      const fromPkg = packageOf(file);
      const toPkg = packageOf(target);
      let next: string;
      if (fromPkg === toPkg) {
        next = posix(relative(dirname(file), target));
        if (!next.startsWith('.')) next = `./${next}`;
      } else if (toPkg === ROOT_PACKAGE) {
        console.error(`${file}: imports ${spec} from the root package ${ROOT_PACKAGE}; a workspace package must not depend on it`);
        failures++;
        return whole;
      } else {
        const dir = packageDir(toPkg)!;
        const inner = target.slice(dir.length + 1);
        const names = namesOf(clause);
        const reexported = indexExports.get(toPkg)?.get(target);
        const viaIndex =
          inner === 'index.ts' ||
          (names !== undefined && names.length > 0 && reexported !== undefined && names.every((n) => reexported.has(n)));
        // A nested index with an explicit export of its own (`./outbox`) is imported by that name.
        const nestedIndex = inner.endsWith('/index.ts') ? `./${inner.slice(0, -'/index.ts'.length)}` : undefined;
        const subpath =
          nestedIndex !== undefined && explicitExports(dir).has(nestedIndex) ? nestedIndex.slice(2) : inner.replace(/\.ts$/, '');
        next = viaIndex ? toPkg : `${toPkg}/${subpath}`;
      }
      return next === spec ? whole : `${head}${quote}${next}${quote}`;
    });
    const movedFrom = oldLocation.get(file);
    // Only right after the move: on a re-run the literal is already relative to the new place.
    if (movedFrom !== undefined && movedNow.has(file)) {
      text = text.replace(/new URL\((['"])(\.\.?\/[^'"\n]*)\1, import\.meta\.url\)/g, (_whole: string, quote: string, spec: string) => {
        const target = posix(normalize(join(dirname(movedFrom), spec)));
        let next = posix(relative(dirname(file), target)) + (spec.endsWith('/') ? '/' : '');
        if (!next.startsWith('.')) next = `./${next}`;
        return `new URL(${quote}${next}${quote}, import.meta.url)`;
      });
    }
  }
  for (const [from, to] of MOVES) {
    // A mention of the old path on its own (not the tail of a relative specifier, handled above).
    text = text.replace(new RegExp(`(?<![\\w./-])${from.replace(/[.]/g, '\\.')}`, 'g'), to);
  }
  if (text !== before) {
    changedFiles++;
    console.log(`rewrite ${file}`);
    if (!DRY_RUN) writeFileSync(path, text);
  }
}
console.log(`${changedFiles} file(s) ${DRY_RUN ? 'would change' : 'changed'}${failures ? `, ${failures} problem(s)` : ''}`);
if (failures > 0) process.exit(1);
