// `facepipe report <run>... [--out DIR]`: one report comparing recorded runs — one accuracy
// table, one ROC chart per dataset and one chart per training curve, a line per run.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { ReportError } from '../report/collect.js';
import { REPORT_GENERATOR, type ReportRun } from '../report/model.js';
import { entriesOf, labelRuns, resolveRun, type ResolvedRun } from '../report/runs.js';
import { summaryLine } from '../report/tables.js';
import { REPORT_FILES, writeReport } from '../report/write.js';

export interface ReportCommandOptions {
  runs: string[];
  /** Default: ./report */
  out?: string;
  runsDir: string;
}

export async function reportCommand(o: ReportCommandOptions): Promise<number> {
  const outArg = o.out ?? 'report';
  const out = path.resolve(outArg);
  await checkOut(out, outArg);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    const runs = await collect(o.runs, o.runsDir);
    const t0 = Date.now();
    const { data, charts } = await writeReport(tmp, { title: titleOf(runs), runs });
    await replace(out, tmp);
    const n = charts.roc.length + charts.training.length;
    process.stdout.write(
      `report: ${path.join(outArg, 'report.html')}  (also report.md, report.json, charts/: ${runs.length} run${runs.length > 1 ? 's' : ''}, ${data.best.length} dataset${data.best.length > 1 ? 's' : ''}, ${n} charts, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n` +
        `  best: ${summaryLine(data)}\n`,
    );
    return 0;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (!(e instanceof ReportError)) throw e;
    process.stderr.write(`facepipe report: ${e.message}\n`);
    return 1;
  }
}

async function collect(args: string[], runsDir: string): Promise<ReportRun[]> {
  const resolved: ResolvedRun[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const r = await resolveRun(arg, runsDir);
    // `orl` and `runs/orl/latest` may be the same run: report it once.
    const real = realpathSync(r.runDir);
    if (seen.has(real)) continue;
    seen.add(real);
    resolved.push(r);
  }
  const entries = [];
  for (const r of resolved) entries.push(...(await entriesOf(r)));
  return labelRuns(entries);
}

function titleOf(runs: ReportRun[]): string {
  if (runs.length === 1) return `${runs[0]!.source.pipeline} — run ${runs[0]!.source.runId}`;
  if (runs.length <= 4) return runs.map((r) => r.label).join(' vs ');
  return `${runs.length} runs of ${[...new Set(runs.map((r) => r.source.pipeline))].join(', ')}`;
}

/**
 * --out must be new, empty, or a previous facepipe report: a folder whose report.json says it was
 * written by `facepipe report` and that holds nothing but a report's own files — so replacing it
 * can never delete anything else the user put there.
 */
async function checkOut(out: string, outArg: string): Promise<void> {
  if (!existsSync(out)) return;
  const refuse = (why: string) => {
    throw ConfigError.one({ message: `--out ${outArg} ${why}`, fix: 'choose another --out, or remove that folder first: facepipe report only replaces a folder holding a previous report (report.json from facepipe report, and only report.html, report.md, report.json, charts/)' });
  };
  if (!statSync(out).isDirectory()) refuse('is a file');
  const entries = await readdir(out);
  if (entries.length === 0) return;
  const foreign = entries.filter((e) => !(REPORT_FILES as readonly string[]).includes(e));
  if (foreign.length) refuse(`holds files that are not part of a report (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''})`);
  const json = await readFile(path.join(out, 'report.json'), 'utf8').then((t) => JSON.parse(t) as { generator?: unknown }, () => undefined);
  if (json?.generator !== REPORT_GENERATOR) refuse('is not empty and its report.json was not written by facepipe report');
}

/** The new report takes the old one's place; the old one is removed only once the new one is there. */
async function replace(out: string, tmp: string): Promise<void> {
  await mkdir(path.dirname(out), { recursive: true });
  const old = `${out}.old-${process.pid}`;
  const had = existsSync(out);
  if (had) await rename(out, old);
  await rename(tmp, out);
  if (had) await rm(old, { recursive: true, force: true });
}
