// report.html: one self-contained page — inline CSS, charts as inline SVG, no scripts, fonts or
// links to fetch — so it opens the same from a laptop, a CI artifact or an offline cluster node.
import { inlineSvg, type Chart } from './charts.js';
import type { ReportData } from './model.js';
import { accuracyPm } from './format.js';
import { accuracyTable, backendTable, configTable, numericColumns, runDetails, sourcesTable, type Cell, type Table } from './tables.js';

export interface ReportCharts {
  roc: Chart[];
  training: Chart[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const CSS = `
:root { --ink: #1f2933; --soft: #52606d; --faint: #9aa5b1; --rule: #e4e7eb; --bg: #fbfbfa; --better: #2f7d32; --worse: #b3261e; --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 40px 32px 64px; }
header { border-bottom: 1px solid var(--rule); padding-bottom: 20px; margin-bottom: 8px; }
h1 { font-size: 28px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 40px 0 12px; letter-spacing: -0.005em; }
.meta { color: var(--soft); font-size: 13px; margin: 0; }
.summary { margin: 16px 0 0; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; }
.summary em { font-style: normal; font-size: 12px; font-weight: 600; color: var(--soft); text-transform: uppercase; letter-spacing: 0.04em; }
.summary span { background: white; border: 1px solid var(--rule); border-left: 3px solid var(--accent); border-radius: 4px; padding: 6px 12px; font-variant-numeric: tabular-nums; }
.summary b { font-weight: 600; margin-right: 6px; }
.summary small { color: var(--soft); margin-left: 6px; }
p.note { color: var(--soft); font-size: 13px; margin: 8px 0 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: white; border: 1px solid var(--rule); font-size: 14px; }
th, td { padding: 7px 14px; text-align: left; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--soft); text-transform: uppercase; letter-spacing: 0.04em; background: #f5f7fa; }
th.num, td.num { text-align: right; }
td.num { font-variant-numeric: tabular-nums; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; white-space: nowrap; }
tr.marked td:first-child { border-left: 3px solid #f28e2b; }
tr.marked td { background: #fff8ef; }
.better { color: var(--better); } .worse { color: var(--worse); } .muted { color: var(--soft); }
.diff { margin-left: 8px; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; background: white; border: 1px solid var(--rule); border-radius: 6px; padding: 8px; }
figure svg { display: block; width: 100%; height: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: var(--soft); word-break: break-all; }
footer { margin-top: 48px; color: var(--faint); font-size: 12px; }
`;

function cell(c: Cell, numeric: boolean): string {
  const cls = [numeric ? 'num' : '', c.tone && !c.note ? c.tone : ''].filter(Boolean).join(' ');
  let body = esc(c.text);
  if (c.strong) body = `<strong>${body}</strong>`;
  if (c.note) body += `<span class="diff ${c.tone ?? ''}">${esc(c.note)}</span>`;
  return `<td${cls ? ` class="${cls}"` : ''}>${body}</td>`;
}

/** `paths`: the cells after the first are file paths, set as code. */
function table(t: Table, paths = false): string {
  const numeric = numericColumns(t);
  const head = `<tr>${t.head.map((h, j) => `<th${numeric[j] ? ' class="num"' : ''}>${esc(h)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r, i) => `<tr${t.marked?.[i] ? ' class="marked"' : ''}>${r.map((c, j) => (paths && j > 0 && c.tone !== 'muted' ? `<td><code>${esc(c.text)}</code></td>` : cell(c, numeric[j]!))).join('')}</tr>`);
  return `<div class="scroll"><table>\n<thead>${head}</thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function figures(charts: Chart[]): string {
  return `<div class="charts">\n${charts.map((c) => `<figure id="chart-${esc(c.id)}">${inlineSvg(c)}</figure>`).join('\n')}\n</div>`;
}

export function renderHtml(d: ReportData, charts: ReportCharts): string {
  const many = d.runs.length > 1;
  const refs = d.references;
  const summary = d.best.map((b) => `<span><b>${esc(b.dataset)}</b>${esc(accuracyPm(b.accuracy, b.std))}${many ? `<small>${esc(b.run)}</small>` : ''}</span>`);
  const config = configTable(d);
  const backend = backendTable(d);
  const parts = [
    `<header>\n<h1>${esc(d.title)}</h1>`,
    `<p class="meta">${esc(many ? `${d.runs.length} runs compared: ${d.runs.map((r) => r.label).join(', ')}` : describeRun(d.runs[0]!))}</p>`,
    `<div class="summary"><em>best accuracy</em>${summary.join('')}</div>\n</header>`,
    `<h2>Verification accuracy</h2>`,
    table(accuracyTable(d)),
    `<p class="note">insightface's protocol: 10-fold Accuracy-Flip as mean+-std over folds; XNorm is the mean embedding norm; VAL is the true accept rate at FAR = 1e-3.${refs.length ? ` Published: the original project's ${esc(refs.map((r) => `${r.name} (${r.description})`).join(', '))}; the difference is ours − published.` : ''}${many ? ' Bold: the best run on each set.' : ''}</p>`,
    ...(many ? [`<h2>Per run</h2>`, table(runDetails(d))] : []),
    ...(charts.roc.length ? [`<h2>ROC curves</h2>`, figures(charts.roc)] : []),
    ...(charts.training.length ? [`<h2>Training curves</h2>`, figures(charts.training)] : []),
    ...(config ? [`<h2>Configuration</h2>`, table(config), ...(many ? [`<p class="note">Highlighted: settings that differ between the runs.</p>`] : [])] : []),
    ...(backend ? [`<h2>Backend and versions</h2>`, table(backend)] : []),
    `<h2>Sources</h2>`,
    table(sourcesTable(d), true),
    `<footer>Generated by facepipe ${esc(d.facepipe)} · report.json has these numbers for machines, report.md the same report as text.</footer>`,
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="facepipe ${esc(d.facepipe)}">
<title>${esc(d.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.join('\n')}
</main>
</body>
</html>
`;
}

export function describeRun(r: ReportData['runs'][number]): string {
  const where = r.source.pipeline ? `pipeline ${r.source.pipeline}${r.source.runId ? `, run ${r.source.runId}` : ''}` : r.label;
  const t = r.train;
  return t ? `${where} · ${t.steps} training steps${r.evaluate.size ? ` · ${r.evaluate.size}×${r.evaluate.size} ${r.evaluate.channels?.toUpperCase() ?? ''}` : ''}` : `${where} · evaluation only (no training output given)`;
}
