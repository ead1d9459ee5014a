// `report`: one evaluate output (and the training behind it) as report.html, report.md and
// report.json — accuracy table, ROC and training curves, configuration, published numbers.
import type { StageKind } from '../../src/stage-api.js';
import type { ReferenceName } from '../../src/report/reference.js';

export interface ReportParams {
  evaluate: string;
  train?: string;
  title?: string;
  reference?: ReferenceName;
}

export const kind: StageKind<ReportParams> = {
  version: '1',
  description: 'write an HTML + Markdown report of an evaluated (and trained) model',
  headline: 'report.html',
  // The pages show training times and where outputs live; the accuracies they report must match.
  reproducible: { outputs: [], metrics: ['*_accuracy', '*_vs_*'] },
  async run(ctx) {
    const { runReport } = await import('./run.js');
    await runReport(ctx);
  },
};
