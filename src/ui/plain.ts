// One line per event: for CI logs, pipes, and `--json` (where it writes to stderr).
import path from 'node:path';
import type { Metrics } from '../stage-api.js';
import { formatCount, formatDuration, formatRate, type Renderer, type RunEvent } from '../runner/events.js';

export class PlainRenderer implements Renderer {
  private lastProgress = new Map<string, number>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    /** Seconds between progress lines of one stage (CI logs should not scroll with every batch). */
    private readonly progressEvery = 10,
    /** Put before every line, e.g. `[trial 2/4] ` in a sweep. */
    private readonly prefix = '',
  ) {}

  handle(e: RunEvent): void {
    const line = this.format(e);
    if (line !== undefined) this.out.write(line.split('\n').map((l) => this.prefix + l).join('\n') + '\n');
  }

  private format(e: RunEvent): string | undefined {
    switch (e.type) {
      case 'run-start': {
        const toRun = e.plan.filter((s) => s.action === 'run').length;
        return `facepipe: pipeline '${e.pipeline}', run ${e.runId}: ${e.plan.length} stages, ${e.plan.length - toRun} cached, ${toRun} to run`;
      }
      case 'waiting-lock':
        return `  … ${e.stage}: waiting for another runner that is running it (${e.holder})`;
      case 'lock-takeover':
        return `  ! ${e.stage}: took over a stale lock: ${e.reason}`;
      case 'stage-start':
        return `  ▶ ${e.stage}: running (${e.key.slice(0, 12)}) because ${briefReasons(e.reasons)}`;
      case 'stage-progress':
        return this.progress(e);
      case 'stage-cached':
        return `  ✓ ${e.stage}: cached${e.reused ? ' (finished by another runner)' : ''}`;
      case 'stage-done': {
        const m = shownMetrics(e.metrics);
        return `  ✓ ${e.stage}: done in ${formatDuration(e.seconds)}${m.length ? '  ' + m.join(' ') : ''}`;
      }
      case 'stage-failed':
        return [
          `  ✗ ${e.stage}: FAILED: ${e.error}`,
          ...(e.logTail.length ? [`    last lines of its log:`, ...e.logTail.map((l) => `    │ ${l}`)] : []),
          ...(e.logPath ? [`    full log: ${relative(e.logPath)}`] : []),
        ].join('\n');
      case 'stage-skipped':
        return `  - ${e.stage}: skipped (${e.reason})`;
      case 'warning':
        return `warning: ${e.message}`;
      case 'run-end':
        return [`facepipe: ${e.status} in ${formatDuration(e.seconds)}; record: ${relative(e.recordPath)}`, ...e.headlines.map((h) => `  open: ${relative(h)}`)].join('\n');
    }
  }

  private progress(e: Extract<RunEvent, { type: 'stage-progress' }>): string | undefined {
    const now = Date.now();
    const finished = e.progress.total !== undefined && e.progress.done >= e.progress.total;
    if (!finished && now - (this.lastProgress.get(e.stage) ?? 0) < this.progressEvery * 1000) return undefined;
    this.lastProgress.set(e.stage, now);
    const p = e.progress;
    const of = p.total !== undefined ? `/${formatCount(p.total, p.unit)}` : '';
    const pct = p.total ? ` (${((100 * p.done) / p.total).toFixed(0)}%)` : '';
    const text = `${formatCount(p.done, p.unit)}${of} ${p.unit && p.unit !== 'B' ? p.unit : ''}${pct} ${formatRate(p, e.rate)}${p.note ? ' ' + p.note : ''}`;
    return `    ${e.stage}: ${text.replace(/ +/g, ' ').trim()}`;
  }

  async close(): Promise<void> {}
}

/** The first reasons, shortened: `facepipe explain` has the whole story. */
export function briefReasons(reasons: string[]): string {
  const short = reasons.slice(0, 3).map((r) => (r.length > 100 ? r.slice(0, 97) + '...' : r).replace(/\n/g, ' '));
  return short.join('; ') + (reasons.length > 3 ? `; and ${reasons.length - 3} more (see facepipe explain)` : '');
}

/** A few metrics for the one-line summary: numbers first, rounded. */
export function shownMetrics(m: Metrics, max = 6): string[] {
  const entries = Object.entries(m).sort(([, a], [, b]) => Number(typeof b === 'number') - Number(typeof a === 'number'));
  return entries.slice(0, max).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toPrecision(5) : String(v)}`);
}

export function relative(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}
