// A comparison as a terminal table, CSV, Markdown or JSON.
import type { Json } from '../config/sourced.js';
import { bestValues, type Comparison } from './table.js';

const fmtParam = (v: Json | undefined) => (typeof v === 'string' ? v : JSON.stringify(v ?? null));
const fmtNum = (x: number) => (Math.abs(x) >= 1000 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toPrecision(4) : x.toFixed(5).replace(/\.?0+$/, '') || '0');

function cells(c: Comparison, bold: (s: string) => string): { header: string[]; body: string[][] } {
  const best = bestValues(c);
  const header = ['run', ...c.params, ...c.metrics.map((m) => (m === c.sortBy ? `${m} ↓` : m))];
  const body = c.rows.map((r) => [
    r.label,
    ...c.params.map((p) => fmtParam(r.params[p])),
    ...c.metrics.map((m) => {
      const v = r.metrics[m];
      if (v === undefined) return '—';
      const s = fmtNum(v) + (r.std?.[m] !== undefined ? ` ± ${fmtNum(r.std[m]!)}` : '');
      return v === best[m] && c.rows.length > 1 ? bold(s) : s;
    }),
  ]);
  return { header, body };
}

export function formatText(c: Comparison, color: boolean): string {
  const bold = (s: string) => (color ? `\x1b[1m${s} *\x1b[22m` : `${s} *`);
  const { header, body } = cells(c, bold);
  const visible = (s: string) => s.replace(/\x1b\[\d+m/g, '').length;
  const widths = header.map((h, i) => Math.max(visible(h), ...body.map((row) => visible(row[i]!))));
  const line = (row: string[]) => row.map((s, i) => s + ' '.repeat(widths[i]! - visible(s))).join('  ').trimEnd();
  const notes = [`* best in its column${c.sortBy ? `; sorted by ${c.sortBy}` : ''}`];
  if (c.replicates.length) notes.push(`mean ± std over ${c.replicates.join(', ')} replicates`);
  return [line(header), line(header.map((_, i) => '-'.repeat(widths[i]!))), ...body.map(line), '', ...notes].join('\n');
}

export function formatMarkdown(c: Comparison): string {
  const { header, body } = cells(c, (s) => `**${s}**`);
  return [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function formatCsv(c: Comparison): string {
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const header = ['run', 'runs', ...c.params, ...c.metrics.flatMap((m) => (c.replicates.length ? [m, `${m}_std`] : [m]))];
  const rows = c.rows.map((r) => [r.label, r.runs.join(' '), ...c.params.map((p) => fmtParam(r.params[p])), ...c.metrics.flatMap((m) => {
    const v = r.metrics[m];
    const cell = v === undefined ? '' : String(v);
    return c.replicates.length ? [cell, r.std?.[m] !== undefined ? String(r.std[m]) : ''] : [cell];
  })]);
  return [header, ...rows].map((r) => r.map(esc).join(',')).join('\n');
}

export function formatJson(c: Comparison): string {
  return JSON.stringify({ ...c, best: bestValues(c) }, null, 2);
}
