// Everything a run reports goes through these events to one renderer (listr2 tree, plain lines or
// JSON), never straight to the console.
import type { PlanEntry } from '../pipeline/plan.js';
import type { Metrics, Progress } from '../stage-api.js';

export type RunEvent =
  | { type: 'run-start'; pipeline: string; runId: string; plan: PlanEntry[] }
  | { type: 'waiting-lock'; stage: string; holder: string }
  | { type: 'lock-takeover'; stage: string; reason: string }
  | { type: 'stage-start'; stage: string; key: string; reasons: string[] }
  | { type: 'stage-progress'; stage: string; progress: Progress; rate?: number }
  | { type: 'stage-cached'; stage: string; key: string; reused: boolean }
  | { type: 'stage-done'; stage: string; seconds: number; metrics: Metrics }
  | { type: 'stage-failed'; stage: string; error: string; logPath: string; logTail: string[] }
  | { type: 'stage-skipped'; stage: string; reason: string }
  | { type: 'warning'; message: string }
  | { type: 'run-end'; status: 'succeeded' | 'failed' | 'interrupted'; recordPath: string; seconds: number; headlines: string[] };

export interface Renderer {
  handle(e: RunEvent): void;
  /** Resolves when everything is printed. */
  close(): Promise<void>;
}

export function formatRate(p: Progress, rate: number | undefined): string {
  if (rate === undefined || !Number.isFinite(rate)) return '';
  if (p.unit === 'B') return `${(rate / 1e6).toFixed(1)} MB/s`;
  return `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)} ${p.unit ?? 'it'}/s`;
}

export function formatCount(n: number, unit: string | undefined): string {
  if (unit === 'B') return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
  // Fractional progress (1.4 of 4 sets): two decimals, not 1.4000000000000001.
  return Number.isInteger(n) ? `${n}` : n.toFixed(2);
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Units per second over roughly the last ten seconds. */
export function rateMeter(): (p: Progress) => number | undefined {
  const samples: [number, number][] = [];
  return (p) => {
    const now = Date.now();
    samples.push([now, p.done]);
    while (samples.length > 2 && now - samples[0]![0] > 10_000) samples.shift();
    const [t0, d0] = samples[0]!;
    return now > t0 ? ((p.done - d0) * 1000) / (now - t0) : undefined;
  };
}
