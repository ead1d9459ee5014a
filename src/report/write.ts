// Writing a report folder: report.json, report.md, report.html and charts/*.svg. Used by the
// report stage (into its fresh output folder) and by `facepipe report` (into a temporary folder
// it then moves into place).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { rocChart, trainingCharts, type Chart } from './charts.js';
import { renderHtml, type ReportCharts } from './html.js';
import { renderMarkdown } from './markdown.js';
import { buildReport, type ReportData, type ReportInput } from './model.js';

/** Every name a report folder may hold: how `facepipe report` recognises one it may replace. */
export const REPORT_FILES = ['report.json', 'report.md', 'report.html', 'charts'] as const;

export interface WrittenReport {
  data: ReportData;
  charts: ReportCharts;
  files: string[];
}

export async function renderCharts(input: ReportInput, datasets: string[]): Promise<ReportCharts> {
  const roc: Chart[] = [];
  for (const d of datasets) {
    const c = await rocChart(d, input.runs);
    if (c) roc.push(c);
  }
  return { roc, training: await trainingCharts(input.runs) };
}

export async function writeReport(dir: string, input: ReportInput): Promise<WrittenReport> {
  const data = buildReport(input);
  const charts = await renderCharts(input, data.datasets);
  await mkdir(path.join(dir, 'charts'), { recursive: true });
  const files: string[] = [];
  const put = async (rel: string, text: string) => {
    await writeFile(path.join(dir, rel), text);
    files.push(path.join(dir, rel));
  };
  for (const c of [...charts.roc, ...charts.training]) await put(path.join('charts', `${c.id}.svg`), c.svg);
  await put('report.json', JSON.stringify(data, null, 2) + '\n');
  await put('report.md', renderMarkdown(data, charts));
  await put('report.html', renderHtml(data, charts));
  return { data, charts, files };
}
