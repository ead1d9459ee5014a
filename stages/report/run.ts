import path from 'node:path';
import { readEvaluate, readTrain, ReportError } from '../../src/report/collect.js';
import { writeReport } from '../../src/report/write.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import type { ReportParams } from './index.js';

export const DEFAULT_TITLE = 'facepipe report';

export async function runReport(ctx: StageContext<ReportParams>): Promise<void> {
  const p = ctx.params;
  try {
    const evaluate = await readEvaluate(path.resolve(ctx.baseDir, p.evaluate));
    ctx.progress({ done: 1, total: 3, unit: 'steps', note: 'read evaluate output' });
    const train = p.train !== undefined ? await readTrain(path.resolve(ctx.baseDir, p.train)) : undefined;
    ctx.progress({ done: 2, total: 3, unit: 'steps', note: 'rendering charts' });
    const { data, charts, files } = await writeReport(ctx.outDir, {
      title: p.title ?? DEFAULT_TITLE,
      // The stage sees folders, not the pipeline that made them: "this run" reads well beside "model-c (published)".
      runs: [{ label: 'this run', source: {}, evaluate, ...(train ? { train } : {}) }],
      ...(p.reference ? { reference: p.reference } : {}),
    });
    for (const f of files) ctx.log(`wrote ${path.relative(ctx.outDir, f)}`);
    ctx.progress({ done: 3, total: 3, unit: 'steps' });
    const deltas = data.deltas['this run'] ?? {};
    ctx.metrics({
      charts: charts.roc.length + charts.training.length,
      ...Object.fromEntries(data.best.map((b) => [`${b.dataset}_accuracy`, b.accuracy])),
      ...Object.fromEntries(Object.entries(deltas).map(([d, v]) => [`${d}_vs_${p.reference}`, v])),
    });
  } catch (e) {
    if (e instanceof ReportError) throw new StageFailure(e.message);
    throw e;
  }
}
