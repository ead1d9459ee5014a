// Embeddings of a verification set's images, as insightface's evaluation takes them: every image
// and its horizontal flip, through the model in inference mode, in batches.
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import { normalizeInto } from '../data/pixels.js';
import { FormatError } from '../formats/errors.js';
import { decodeImage } from '../formats/image.js';
import { ordered } from '../util/ordered.js';

export interface EmbedOptions {
  size: number;
  bgr: boolean;
  batchSize: number;
  /** Images done so far, of all. */
  onProgress?(done: number, total: number): void;
  /** For error messages: the .bin the images came from. */
  source: string;
}

export interface Embeddings {
  emb: Float32Array;
  embFlip: Float32Array;
  dim: number;
}

/** `embed` maps a batch of preprocessed images (N, S, S, 3) to embeddings (N, dim). */
export async function embedImages(tf: Tf, embed: (x: Tensor4D) => Tensor2D, images: readonly Buffer[], o: EmbedOptions): Promise<Embeddings> {
  const { size } = o;
  const px = size * size * 3;
  const out: { emb: Float32Array[]; flip: Float32Array[] } = { emb: [], flip: [] };
  let dim = 0;
  let done = 0;
  const starts = Array.from({ length: Math.ceil(images.length / o.batchSize) }, (_, i) => i * o.batchSize);
  // Decoding of the next batches overlaps with the model working on this one.
  const decoded = ordered(starts, 2, async (start) => {
    const chunk = images.slice(start, start + o.batchSize);
    const plain = new Float32Array(chunk.length * px);
    const flipped = new Float32Array(chunk.length * px);
    await Promise.all(chunk.map(async (jpeg, i) => {
      const img = await decodeImage(jpeg, { channels: 3, file: `${o.source} image ${start + i}` });
      if (img.width !== size || img.height !== size) throw new FormatError(`image ${start + i} is ${img.width}×${img.height}, but the model takes ${size}×${size} images — evaluate with a model trained at this size`, o.source);
      normalizeInto(plain, i * px, img.data, size, false, o.bgr);
      normalizeInto(flipped, i * px, img.data, size, true, o.bgr);
    }));
    return { n: chunk.length, plain, flipped };
  });
  for await (const b of decoded) {
    for (const [pixels, into] of [[b.plain, out.emb], [b.flipped, out.flip]] as const) {
      const e = tf.tidy(() => embed(tf.tensor4d(pixels, [b.n, size, size, 3])));
      dim = e.shape[1];
      into.push((await e.data()) as Float32Array);
      e.dispose();
    }
    done += b.n;
    o.onProgress?.(done, images.length);
  }
  const join = (parts: Float32Array[]) => {
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (all.set(p, at), (at += p.length));
    return all;
  };
  return { emb: join(out.emb), embFlip: join(out.flip), dim };
}
