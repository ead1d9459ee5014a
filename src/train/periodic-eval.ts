// Verification while training: the training model in inference mode on a few .bin sets, every N
// steps, with insightface's metrics — so the curves show what the final evaluation will.
import path from 'node:path';
import type { Tf } from '../backend/tf.js';
import { embedImages } from '../eval/embed.js';
import { verify } from '../eval/verification.js';
import { readVerificationBin, type VerificationSet } from '../formats/verification-bin.js';
import type { FaceModel } from '../model/model.js';

export class PeriodicEval {
  private constructor(private readonly sets: { name: string; file: string; set: VerificationSet }[]) {}

  static async open(files: string[]): Promise<PeriodicEval> {
    const sets = [];
    for (const file of files) sets.push({ name: path.basename(file).replace(/\.bin$/i, ''), file, set: await readVerificationBin(file) });
    return new PeriodicEval(sets);
  }

  /** `<name>_accuracy` and `<name>_xnorm` for every set. */
  async run(tf: Tf, model: FaceModel, o: { bgr: boolean; batchSize: number }): Promise<Record<string, number>> {
    const size = model.config.backbone.inputSize;
    const out: Record<string, number> = {};
    for (const { name, file, set } of this.sets) {
      const e = await embedImages(tf, (x) => model.embed(x, { training: false }), set.images, { size, bgr: o.bgr, batchSize: o.batchSize, source: file });
      const r = verify({ ...e, issame: set.issame });
      out[`${name}_accuracy`] = r.accuracy.mean;
      out[`${name}_xnorm`] = r.xnorm;
    }
    return out;
  }
}
