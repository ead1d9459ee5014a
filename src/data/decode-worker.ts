// A decode worker: JPEG bytes → normalised float32 pixels of a whole batch, off the training
// thread. Exact libjpeg-turbo pixels (src/formats/image.ts); flips are decided by the main thread
// so the stream stays deterministic whatever the worker count.
import { parentPort } from 'node:worker_threads';
import { decodeImage } from '../formats/image.js';
import { normalizeInto, type DecodeJob, type DecodeResult } from './pixels.js';

parentPort!.on('message', (job: DecodeJob) => {
  void decodeBatch(job).then(
    (r) => parentPort!.postMessage(r, [r.images.buffer as ArrayBuffer]),
    (e: unknown) => parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies DecodeResult),
  );
});

async function decodeBatch(job: DecodeJob): Promise<DecodeResult & { images: Float32Array }> {
  const { size, n } = job;
  const images = new Float32Array(n * size * size * 3);
  const bytes = new Uint8Array(job.bytes);
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const jpeg = bytes.subarray(job.starts[i]!, job.starts[i + 1]!);
      const img = await decodeImage(jpeg, { channels: 3, file: job.names[i]! });
      if (img.width !== size || img.height !== size) {
        throw new Error(`${job.names[i]}: the image is ${img.width}×${img.height}, the model expects ${size}×${size} — convert or pack the dataset at this size`);
      }
      normalizeInto(images, i * size * size * 3, img.data, size, job.flips[i] === 1, job.bgr);
    }),
  );
  return { id: job.id, images };
}
