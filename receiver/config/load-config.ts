/**
 * Loads the receiver's configuration sources and merges them, lowest precedence first:
 * schema defaults ← config file (YAML or JSON) ← environment (`OTEL_AUDIT_*`) ← command-line flags.
 * Validation happens once, afterwards, with the receiver's strict zod schema.
 */
import { readFileSync } from 'node:fs';
import { AuditError } from '@otel-audit/core';
import { parse as parseYaml } from 'yaml';

/** Prefix of environment overrides. */
export const ENV_PREFIX = 'OTEL_AUDIT_';

/** A plain configuration tree, before validation. */
export type RawConfig = Record<string, unknown>;

/**
 * Read a YAML (or JSON, a YAML subset) config file. A missing file is an error only when
 * `required` (the user named it); the default `otel-audit.yaml` is optional.
 */
export function readConfigFile(path: string, required: boolean): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return {};
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `config file ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `config file ${path} must hold a mapping at the top level`);
  }
  return parsed as RawConfig;
}

/**
 * Environment overrides: `OTEL_AUDIT_<PATH>` where path segments are separated by a double
 * underscore and each segment is SCREAMING_SNAKE of the camelCase key, e.g.
 * `OTEL_AUDIT_RECEIVER__HTTP__PORT=4319` → `receiver.http.port = 4319`,
 * `OTEL_AUDIT_DATA_DIR=/var/lib/otel-audit` → `dataDir`. Values are parsed as JSON when they parse
 * (numbers, booleans, arrays), otherwise taken as strings.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const out: RawConfig = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((segment) => segment.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    if (path.some((p) => p === '')) continue;
    setPath(out, path, parseScalar(value));
  }
  return out;
}

function parseScalar(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Set `value` at `path` in `target`, creating intermediate objects. */
export function setPath(target: RawConfig, path: string[], value: unknown): void {
  let node: RawConfig = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as RawConfig;
  }
  node[path[path.length - 1]!] = value;
}

/** Deep-merge config trees; later sources win; arrays are replaced, not concatenated. */
export function mergeConfig(...sources: RawConfig[]): RawConfig {
  const out: RawConfig = {};
  for (const source of sources) mergeInto(out, source);
  return out;
}

function mergeInto(target: RawConfig, source: RawConfig): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) mergeInto(existing, value);
    else target[key] = isPlainObject(value) ? mergeConfig(value) : value;
  }
}

function isPlainObject(value: unknown): value is RawConfig {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Where the CLI's configuration comes from. */
export interface ConfigSources {
  /** `--config`: a file the user named (must exist). Absent: `otel-audit.yaml` if present. */
  configPath?: string;
  /** `--data-dir`: overrides file and environment. */
  dataDir?: string;
  /** Environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Further flag overrides, as a config tree. */
  overrides?: RawConfig;
}

/**
 * Merge the configuration sources of a CLI command: file ← environment ← flags. The result is
 * not validated yet; the receiver validates the whole tree once.
 */
export function loadRawConfig(sources: ConfigSources = {}): RawConfig {
  const file = readConfigFile(sources.configPath ?? 'otel-audit.yaml', sources.configPath !== undefined);
  const flags: RawConfig = { ...(sources.overrides ?? {}) };
  if (sources.dataDir !== undefined) flags.dataDir = sources.dataDir;
  return mergeConfig(file, configFromEnv(sources.env ?? process.env), flags);
}
