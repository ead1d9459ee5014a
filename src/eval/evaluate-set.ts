// One verification set end to end: read the .bin, embed originals and flips, compute insightface's
// metrics, and write what a user (or NumPy) wants to keep.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import { readVerificationBin } from '../formats/verification-bin.js';
import { embedImages, type Embeddings } from './embed.js';
import { writeNpy } from './npy.js';
import { verify, type VerificationResult } from './verification.js';

export interface SetMetrics {
  pairs: number;
  accuracy: number;
  std: number;
  xnorm: number;
  val: number | null;
  val_std: number | null;
  far: number | null;
  thresholds: number[];
  folds: number[];
}

export function summarize(r: VerificationResult): SetMetrics {
  const v = r.val.kind === 'defined' ? r.val : undefined;
  return { pairs: r.pairs, accuracy: r.accuracy.mean, std: r.accuracy.std, xnorm: r.xnorm, val: v?.mean ?? null, val_std: v?.std ?? null, far: v?.far ?? null, thresholds: r.accuracy.thresholds, folds: r.accuracy.folds };
}

export interface EvalSetOptions {
  size: number;
  bgr: boolean;
  batchSize: number;
  onProgress?(done: number, total: number): void;
}

export async function evaluateBin(tf: Tf, embed: (x: Tensor4D) => Tensor2D, bin: string, o: EvalSetOptions): Promise<{ result: VerificationResult; embeddings: Embeddings; issame: boolean[] }> {
  const set = await readVerificationBin(bin);
  const embeddings = await embedImages(tf, embed, set.images, { ...o, source: bin });
  const result = verify({ ...embeddings, issame: set.issame });
  return { result, embeddings, issame: set.issame };
}

/** `<name>.emb.npy`, `<name>.emb_flip.npy`, `<name>.issame.json`, `<name>.roc.json` in `dir`. */
export async function writeSetFiles(dir: string, name: string, e: Embeddings, issame: boolean[], r: VerificationResult): Promise<void> {
  const rows = e.emb.length / e.dim;
  await writeNpy(path.join(dir, `${name}.emb.npy`), { rows, cols: e.dim, data: e.emb });
  await writeNpy(path.join(dir, `${name}.emb_flip.npy`), { rows, cols: e.dim, data: e.embFlip });
  await writeFile(path.join(dir, `${name}.issame.json`), JSON.stringify(issame) + '\n');
  const roc = { thresholds: [...r.roc.thresholds], tpr: [...r.roc.tpr], fpr: [...r.roc.fpr] };
  await writeFile(path.join(dir, `${name}.roc.json`), JSON.stringify(roc) + '\n');
}
