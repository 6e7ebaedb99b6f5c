/**
 * Summarize a V8 `.cpuprofile` (written by `node --cpu-prof`): self time per function, so the
 * report can say where the receiver's CPU goes without anyone opening a profiler.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One function's share of the profile. */
export interface ProfileEntry {
  /** `name (file:line)`, with paths relative to the repository. */
  function: string;
  selfMillis: number;
  /** Share of the non-idle samples, %. */
  selfPercent: number;
}

/** Summary of a profile. */
export interface ProfileSummary {
  /** Summarized wall time (s): the load window, or the whole profile. */
  seconds: number;
  /** Non-idle sampled time of the main thread (s); worker threads are not in this profile. */
  busySeconds: number;
  /** Idle sampled time of the main thread (s): waiting for I/O (fsync, sockets). */
  idleSeconds: number;
  /** Garbage collection share of the busy time, %. */
  gcPercent: number;
  top: ProfileEntry[];
  /** Busy time grouped by source area (receiver/http, receiver/wal, node:internal, …), %. */
  byArea: Array<{ area: string; selfPercent: number }>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function location(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith('/') ? relative(ROOT, path) : path;
}

function areaOf(loc: string, name: string): string {
  if (loc === '') return name.startsWith('(') ? name : '(native)';
  if (loc.startsWith('node:')) return loc.split('/').slice(0, 2).join('/').replace(/\.js$/, '');
  if (loc.startsWith('node_modules/')) {
    const parts = loc.split('/');
    return parts.slice(0, parts[1]!.startsWith('@') ? 3 : 2).join('/');
  }
  return loc.split('/').slice(0, 2).join('/');
}

/** Read and summarize a `.cpuprofile`, `topN` functions by self time. */
export function summarizeCpuProfile(file: string, topN = 15, window?: { fromMicros: number; toMicros: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  // Sample timestamps are V8 monotonic µs, the clock of process.hrtime() in any process on Linux:
  // keep only samples inside the window, unless none are (a different clock), then keep them all.
  let inWindow = (_t: number) => true;
  if (window) {
    let t = profile.startTime;
    const any = profile.timeDeltas.some((d) => ((t += d), t >= window.fromMicros && t <= window.toMicros));
    if (any) inWindow = (x: number) => x >= window.fromMicros && x <= window.toMicros;
  }
  let at = profile.startTime;
  let windowStart = Infinity;
  let windowEnd = 0;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    at += profile.timeDeltas[i] ?? 0;
    if (!node || !inWindow(at)) continue;
    windowStart = Math.min(windowStart, at);
    windowEnd = Math.max(windowEnd, at);
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    if (functionName === '(garbage collector)') gc += dt;
    const loc = location(url);
    const key = `${functionName || '(anonymous)'}${loc ? ` (${loc}:${lineNumber + 1})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const area = areaOf(loc, functionName);
    areas.set(area, (areas.get(area) ?? 0) + dt);
  }
  const pct = (ms: number) => Math.round((ms / Math.max(total, 1e-9)) * 1000) / 10;
  return {
    seconds: Math.round((windowEnd - Math.min(windowStart, windowEnd)) / 1e5) / 10,
    busySeconds: Math.round(total / 100) / 10,
    idleSeconds: Math.round(idle / 100) / 10,
    gcPercent: pct(gc),
    top: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, ms]) => ({ function: fn, selfMillis: Math.round(ms), selfPercent: pct(ms) })),
    byArea: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area, ms]) => ({ area, selfPercent: pct(ms) })),
  };
}
