// The live listr2 tree for terminals: one row per stage — cached, waiting, running with a progress
// bar and rate, done, failed (with its log tail) or skipped.
import { Listr, type ListrTaskWrapper, type ListrDefaultRenderer, type ListrSimpleRenderer } from 'listr2';
import { formatCount, formatDuration, formatRate, type Renderer, type RunEvent } from '../runner/events.js';
import type { Progress } from '../stage-api.js';
import { briefReasons, relative, shownMetrics } from './plain.js';

type Task = ListrTaskWrapper<unknown, typeof import('listr2').DefaultRenderer, typeof import('listr2').SimpleRenderer>;

interface Row {
  task?: Task;
  /** Events that arrived before listr2 started the row's task. */
  early: RunEvent[];
  settle?: (error?: Error) => void;
}

export class TreeRenderer implements Renderer {
  private rows = new Map<string, Row>();
  private done: Promise<unknown> = Promise.resolve();
  private header = '';

  handle(e: RunEvent): void {
    if (e.type === 'run-start') return this.start(e);
    if (e.type === 'run-end' || e.type === 'warning') {
      this.header = e.type === 'warning' ? `warning: ${e.message}` : [`${e.status} in ${formatDuration(e.seconds)}; record: ${relative(e.recordPath)}`, ...e.headlines.map((h) => `open: ${relative(h)}`)].join('\n');
      return;
    }
    const row = this.rows.get(e.stage);
    if (!row) return;
    if (row.task) this.apply(row, e);
    else row.early.push(e);
  }

  private start(e: Extract<RunEvent, { type: 'run-start' }>): void {
    process.stdout.write(`facepipe: pipeline '${e.pipeline}', run ${e.runId}\n`);
    const tasks = e.plan.map((s) => {
      const row: Row = { early: [] };
      this.rows.set(s.name, row);
      return {
        title: `${s.name} ${dim(`(${s.kind})`)}`,
        rendererOptions: { persistentOutput: true },
        task: (_ctx: unknown, task: Task) =>
          new Promise<void>((resolve, reject) => {
            row.task = task;
            row.settle = (err) => (err ? reject(err) : resolve());
            for (const ev of row.early.splice(0)) this.apply(row, ev);
          }),
      };
    });
    const list = new Listr<unknown, ListrDefaultRenderer, ListrSimpleRenderer>(tasks, {
      concurrent: true,
      exitOnError: false,
      rendererOptions: { collapseErrors: false, formatOutput: 'wrap' },
    });
    this.done = list.run().catch(() => undefined);
  }

  private apply(row: Row, e: RunEvent): void {
    const t = row.task!;
    const name = 'stage' in e ? e.stage : '';
    switch (e.type) {
      case 'waiting-lock':
        t.output = `waiting for another runner: ${e.holder}`;
        break;
      case 'lock-takeover':
        t.output = `took over a stale lock: ${e.reason}`;
        break;
      case 'stage-start':
        t.title = `${name} ${dim('running')}`;
        t.output = `because ${briefReasons(e.reasons)}`;
        break;
      case 'stage-progress':
        t.output = bar(e.progress, e.rate);
        break;
      case 'stage-cached':
        t.title = `${name} ${dim(e.reused ? 'cached (finished by another runner)' : 'cached')}`;
        t.output = '';
        row.settle?.();
        break;
      case 'stage-done':
        t.title = `${name} ${dim(`done in ${formatDuration(e.seconds)}`)}`;
        t.output = shownMetrics(e.metrics).join('  ');
        row.settle?.();
        break;
      case 'stage-failed':
        t.title = `${name} ${dim('failed')}`;
        t.output = [...e.logTail.slice(-10).map((l) => `│ ${l}`), ...(e.logPath ? [`full log: ${relative(e.logPath)}`] : [])].join('\n');
        row.settle?.(new Error(`${name}: ${e.error}`));
        break;
      case 'stage-skipped':
        t.skip(`${name}: skipped (${e.reason})`);
        row.settle?.();
        break;
    }
  }

  async close(): Promise<void> {
    for (const row of this.rows.values()) row.settle?.();
    await this.done;
    if (this.header) process.stdout.write(this.header + '\n');
  }
}

function dim(s: string): string {
  return `\x1b[2m${s}\x1b[22m`;
}

function bar(p: Progress, rate: number | undefined): string {
  const width = 24;
  const frac = p.total ? Math.min(1, p.done / p.total) : undefined;
  const filled = frac === undefined ? '' : '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
  const eta = frac !== undefined && rate && p.total ? `ETA ${formatDuration((p.total - p.done) / rate)}` : '';
  const count = `${formatCount(p.done, p.unit)}${p.total !== undefined ? '/' + formatCount(p.total, p.unit) : ''} ${p.unit && p.unit !== 'B' ? p.unit : ''}`;
  return [filled, frac !== undefined ? `${(frac * 100).toFixed(0)}%` : '', count, formatRate(p, rate), eta, p.note ?? ''].filter(Boolean).join('  ');
}
