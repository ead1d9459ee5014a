// The report's tables as plain data: html.ts and markdown.ts only lay them out, so both show the
// same cells.
import { accuracyPm, delta, valAtFar, xnorm } from './format.js';
import { mergeRows, type ReportData } from './model.js';

export interface Cell {
  text: string;
  /** Secondary text after the main one: the difference to the published number. */
  note?: string;
  tone?: 'better' | 'worse' | 'muted';
  strong?: boolean;
}

export interface Table {
  head: string[];
  rows: Cell[][];
  /** Rows to highlight (in a comparison: settings that differ between runs). */
  marked?: boolean[];
}

const DASH: Cell = { text: '—', tone: 'muted' };
const plain = (text: string): Cell => ({ text });

function deltaCell(d: number | undefined): Pick<Cell, 'note' | 'tone'> {
  return d === undefined ? {} : { note: delta(d), tone: d >= 0 ? 'better' : 'worse' };
}

/**
 * The accuracy table in the original's form (`dbname | accuracy`). One run: its numbers in full
 * (± std, XNorm, VAL@FAR) and the published ones beside them. Several: one column per run (the
 * difference to its published model after each number), the best of each row in bold, and
 * runDetails() below for the rest.
 */
export function accuracyTable(d: ReportData): Table {
  const refHead = d.references.map((r) => `${r.name} (published)`);
  const refCells = (ds: string): Cell[] => d.references.map((r) => (r.accuracy[ds] !== undefined ? plain(r.accuracy[ds]!.toFixed(4)) : DASH));
  if (d.runs.length === 1) {
    const r = d.runs[0]!;
    const withRef = d.references.length > 0;
    return {
      head: ['dbname', 'accuracy', 'XNorm', 'VAL@FAR', 'pairs', ...refHead, ...(withRef ? ['difference'] : [])],
      rows: d.datasets.map((ds) => {
        const s = r.evaluate.datasets[ds];
        const dlt = d.deltas[r.label]?.[ds];
        const diff: Cell[] = withRef ? [dlt === undefined ? DASH : { text: delta(dlt), tone: dlt >= 0 ? 'better' : 'worse' }] : [];
        if (!s) return [plain(ds), DASH, DASH, DASH, DASH, ...refCells(ds), ...diff];
        return [plain(ds), { text: accuracyPm(s.accuracy, s.std), strong: true }, plain(xnorm(s.xnorm)), plain(valAtFar(s)), plain(String(s.pairs)), ...refCells(ds), ...diff];
      }),
    };
  }
  return {
    head: ['dbname', ...d.runs.map((r) => (r.reference && d.references.length > 1 && r.reference !== r.label ? `${r.label} (vs ${r.reference})` : r.label)), ...refHead],
    rows: d.datasets.map((ds) => {
      const top = d.best.find((b) => b.dataset === ds);
      const cells = d.runs.map((r): Cell => {
        const s = r.evaluate.datasets[ds];
        if (!s) return DASH;
        return { text: accuracyPm(s.accuracy, s.std), strong: top?.run === r.label, ...deltaCell(d.deltas[r.label]?.[ds]) };
      });
      return [plain(ds), ...cells, ...refCells(ds)];
    }),
  };
}

/** A number, possibly with ± or a trailing remark ("0.97720+-0.00302", "300", "0.81 @ FAR=0.001"). */
const NUMERIC = /^[-+]?\d[\d.e+-]*(\s|$)/;

/** Columns (after the first) whose every filled cell is a number: set in tabular figures, aligned right. */
export function numericColumns(t: Table): boolean[] {
  return t.head.map((_, j) => {
    const filled = t.rows.map((r) => r[j]).filter((c): c is Cell => c !== undefined && c !== DASH);
    return j > 0 && filled.length > 0 && filled.every((c) => NUMERIC.test(c.text));
  });
}

/** Several runs: every number of every set, one row per (run, set). */
export function runDetails(d: ReportData): Table {
  return {
    head: ['run', 'dbname', 'accuracy', 'XNorm', 'VAL@FAR', 'pairs'],
    rows: d.runs.flatMap((r) => Object.entries(r.evaluate.datasets).map(([ds, s]) => [plain(r.label), plain(ds), plain(accuracyPm(s.accuracy, s.std)), plain(xnorm(s.xnorm)), plain(valAtFar(s)), plain(String(s.pairs))])),
  };
}

/** (label → value per run) rows side by side; rows that differ between runs are marked. */
function sideBySide(d: ReportData, rowsOf: (r: ReportData['runs'][number]) => [string, string][] | undefined): Table | undefined {
  const runs = d.runs.filter((r) => r.train);
  if (runs.length === 0) return undefined;
  const merged = mergeRows(runs.map(rowsOf));
  return {
    head: ['', ...(runs.length > 1 || d.runs.length > 1 ? runs.map((r) => r.label) : ['value'])],
    rows: merged.map((m) => [{ text: m.label, tone: 'muted' }, ...m.values.map((v) => (v === undefined ? DASH : plain(v)))]),
    marked: merged.map((m) => m.differs),
  };
}

export const configTable = (d: ReportData) => sideBySide(d, (r) => r.train?.config);
export const backendTable = (d: ReportData) => sideBySide(d, (r) => r.train?.backend);

/** Where each run's numbers came from. */
export function sourcesTable(d: ReportData): Table {
  return {
    head: ['run', 'run record', 'evaluate output', 'train output'],
    rows: d.runs.map((r) => [plain(r.label), r.source.runDir ? plain(r.source.runDir) : DASH, plain(r.evaluate.dir), r.train ? plain(r.train.dir) : DASH]),
  };
}

/** The line at the top: the best accuracy on each evaluated set (and whose, when comparing). */
export function summaryLine(d: ReportData): string {
  const many = d.runs.length > 1;
  return d.best.map((b) => `${b.dataset} ${accuracyPm(b.accuracy, b.std)}${many ? ` (${b.run})` : ''}`).join(' · ');
}
