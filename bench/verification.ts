// insightface's verification metrics on a cfp_fp-sized set (7000 pairs of 512-d embeddings plus
// their flips), against the literal transcription in test/eval/reference.ts run in the same
// process: that is what insightface's loops cost (400 + 4000 passes over the pairs per fold).
// Goal: the whole evaluation after the network (normalise, distances, all metrics) under 200 ms.
import { makePairs, referenceEmbeddings, referenceMetrics } from '../test/eval/reference.js';
import { metricsFromDistances, pairDistances, verify } from '../src/eval/verification.js';
import { median, timeMs, type BenchResult } from './timing.js';

export async function benchVerification(pairs = 7000, dim = 512): Promise<BenchResult> {
  const { emb, embFlip, issame } = makePairs(1, pairs, dim, 2.4);
  const dist = pairDistances(emb, embFlip, dim);
  for (let i = 0; i < 3; i++) verify({ emb, embFlip, dim, issame }); // warm-up: let V8 optimise
  const full = median(Array.from({ length: 7 }, () => timeMs(() => verify({ emb, embFlip, dim, issame }))));
  const distances = median(Array.from({ length: 7 }, () => timeMs(() => pairDistances(emb, embFlip, dim))));
  const metrics = median(Array.from({ length: 21 }, () => timeMs(() => metricsFromDistances(dist, issame))));
  const refDistances = median(Array.from({ length: 3 }, () => timeMs(() => referenceEmbeddings(emb, embFlip, dim))));
  const refMetrics = median(Array.from({ length: 3 }, () => timeMs(() => referenceMetrics(dist, issame))));
  return {
    name: `verification metrics, ${pairs} pairs × ${dim}-d (cfp_fp-sized)`,
    rows: [
      ['verify(): XNorm, normalise, distances, accuracy, VAL, ROC (median of 7)', full],
      ['  of which pairDistances (median of 7)', distances],
      ['metricsFromDistances alone (median of 21)', metrics],
      ['baseline: reference distances, plain loops (median of 3)', refDistances],
      ['baseline: reference metrics, insightface loops (median of 3)', refMetrics],
    ],
    ratios: [
      ['reference metrics / metricsFromDistances (speed-up)', refMetrics / metrics],
      ['reference distances + metrics / verify() (speed-up)', (refDistances + refMetrics) / full],
    ],
    goal: `verify() < 200 ms: ${full < 200 ? 'met' : 'NOT met'} (${full.toFixed(0)} ms)`,
  };
}
