import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTf } from '../../src/backend/tf.js';
import { evaluateBin, summarize, writeSetFiles, type SetMetrics } from '../../src/eval/evaluate-set.js';
import { formatLines } from '../../src/eval/verification.js';
import { loadEmbeddingModel } from '../../src/model/export.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import type { EvaluateParams } from './index.js';

export const DEFAULT_SETS = ['lfw', 'cfp_ff', 'cfp_fp', 'agedb_30'];

/** name → .bin path, from `datasets` in `data` and explicit `bins`. */
function setsOf(ctx: StageContext<EvaluateParams>): [string, string][] {
  const p = ctx.params;
  const out: [string, string][] = [];
  if (p.data !== undefined || p.bins === undefined) {
    if (p.data === undefined) throw new StageFailure('give data: (a folder with the .bin files) or bins: (a list of .bin files)');
    const dir = path.resolve(ctx.baseDir, p.data);
    for (const name of p.datasets ?? DEFAULT_SETS) {
      const file = path.join(dir, `${name}.bin`);
      if (!existsSync(file)) throw new StageFailure(`${name}.bin is not in ${dir} — list the sets that exist there in datasets:, or give bins:`);
      out.push([name, file]);
    }
  }
  for (const b of p.bins ?? []) out.push([path.basename(b).replace(/\.bin$/i, ''), path.resolve(ctx.baseDir, b)]);
  const names = out.map(([n]) => n);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new StageFailure(`two verification sets are named '${dup}': rename one of the .bin files`);
  return out;
}

export async function runEvaluate(ctx: StageContext<EvaluateParams>): Promise<void> {
  const sets = setsOf(ctx);
  const { tf } = await loadTf();
  const model = await loadEmbeddingModel(tf, path.resolve(ctx.baseDir, ctx.params.model));
  try {
    const shape = model.model.inputs[0]!.shape;
    const size = shape[1];
    if (typeof size !== 'number' || shape[2] !== size || shape[3] !== 3) throw new StageFailure(`the model takes input of shape [${shape.join(', ')}]; evaluate needs square RGB images (N, S, S, 3)`);
    const pixels = model.metadata?.extra?.pixels as { channels?: string } | undefined;
    const want = ctx.params.channels ?? 'auto';
    const bgr = want === 'auto' ? pixels?.channels === 'bgr' : want === 'bgr';
    const metrics: Record<string, SetMetrics> = {};
    for (const [i, [name, bin]] of sets.entries()) {
      const { result, embeddings, issame } = await evaluateBin(tf, model.embed, bin, {
        size,
        bgr,
        batchSize: ctx.params.batch_size ?? 64,
        onProgress: (done, total) => ctx.progress({ done: i + done / total, total: sets.length, unit: 'sets', note: `${name}: ${done}/${total} images` }),
      });
      await writeSetFiles(ctx.outDir, name, embeddings, issame, result);
      for (const line of formatLines(name, result)) ctx.log(line);
      metrics[name] = summarize(result);
      ctx.metrics({ [`${name}_accuracy`]: result.accuracy.mean, [`${name}_std`]: result.accuracy.std, [`${name}_xnorm`]: result.xnorm });
    }
    await writeFile(path.join(ctx.outDir, 'metrics.json'), JSON.stringify({ channels: bgr ? 'bgr' : 'rgb', size, datasets: metrics }, null, 2) + '\n');
  } finally {
    model.dispose();
  }
}
