/**
 * What a benchmark result must say about where it was measured: cores, CPU model, memory, Node,
 * the disk under the data dirs, the load average, and the git commit of the code measured.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The machine and code a result was measured on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  platform: string;
  node: string;
  /** Filesystem, device and whether it is rotational, for the directory data dirs are created in. */
  disk: string;
  loadAverage: number[];
  gitCommit: string;
  /** True when the working tree had uncommitted changes (others work in the same checkout). */
  gitDirty: boolean;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function diskOf(dir: string): string {
  const df = run('df', ['-T', dir]).split('\n')[1]?.split(/\s+/) ?? [];
  const [device, fsType, size] = [df[0] ?? '?', df[1] ?? '?', df[2] ? `${Math.round(Number(df[2]) / 2 ** 20)} GiB` : '?'];
  const name = device.replace(/^\/dev\//, '').replace(/p?\d+$/, '');
  let kind = '';
  try {
    kind = readFileSync(`/sys/block/${name}/queue/rotational`, 'utf8').trim() === '1' ? ', reported rotational' : ', non-rotational';
  } catch {
    // Not a plain block device (overlay, tmpfs): the type says enough.
  }
  return `${device} (${fsType}, ${size}${kind})`;
}

/** Describe this machine; `dataDir` is where the benchmarks put their WALs. */
export function machineInfo(dataDir: string = os.tmpdir()): MachineInfo {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    disk: diskOf(dataDir),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    // A snapshot without .git (`git archive`, see docs/performance.md) names its commit in the env.
    gitCommit: process.env.BENCH_GIT_COMMIT ?? (run('git', ['rev-parse', 'HEAD']) || 'unknown'),
    gitDirty: process.env.BENCH_GIT_COMMIT === undefined && run('git', ['status', '--porcelain', '--untracked-files=no']) !== '',
  };
}
