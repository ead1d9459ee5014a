// The training input pipeline: TFRecord shards → seeded record stream → batches of decoded,
// optionally flipped, normalised images, decoded in worker threads `prefetch` batches ahead so
// the model does not wait. Each batch carries the stream position after it, which the trainer
// saves with a checkpoint to resume at exactly the next batch.
import { Worker } from 'node:worker_threads';
import { decodeImageExample } from '../formats/example.js';
import { Rng } from '../util/random.js';
import type { DecodeJob, DecodeResult } from './pixels.js';
import { RecordStream, type StreamState } from './record-stream.js';

export interface InputOptions {
  files: string[];
  batchSize: number;
  seed: number;
  shuffleBuffer: number;
  shuffleShards: boolean;
  flip: boolean;
  /** Feed BGR, as the original project did (insightface's PyTorch code feeds RGB). */
  bgr: boolean;
  size: number;
  workers: number;
  prefetch: number;
}

export interface InputState {
  stream: StreamState;
  flipRng: number[];
  batches: number;
}

export interface Batch {
  index: number;
  n: number;
  /** n × size × size × 3, NHWC, normalised. */
  images: Float32Array;
  labels: Int32Array;
  epoch: number;
  /** Where the input stands after this batch: save it to resume with the next one. */
  state: InputState;
}

export class InputPipeline {
  private pending: Promise<Batch>[] = [];
  /** Assembly (reading records) runs one batch at a time, in order: the stream is not re-entrant. */
  private chain: Promise<unknown> = Promise.resolve();
  private workers: Worker[] = [];
  private waiters = new Map<number, { resolve: (r: DecodeResult) => void }>();
  private batches: number;
  private flipRng: Rng;
  /** Seconds `next()` spent waiting for a batch that was not ready. */
  waitSeconds = 0;

  private constructor(private readonly o: InputOptions, private readonly stream: RecordStream, state?: InputState) {
    this.batches = state?.batches ?? 0;
    this.flipRng = state ? Rng.fromState(state.flipRng) : Rng.seeded(o.seed + 7919);
  }

  static async open(o: InputOptions, state?: InputState): Promise<InputPipeline> {
    // sharp must be loaded by the main thread before any worker loads it (lovell/sharp#2263).
    await import('sharp');
    const stream = await RecordStream.open(o.files, { seed: o.seed, shuffleBuffer: o.shuffleBuffer, shuffleShards: o.shuffleShards }, state?.stream);
    const p = new InputPipeline(o, stream, state);
    for (let i = 0; i < Math.max(1, o.workers); i++) p.spawn();
    for (let i = 0; i < Math.max(1, o.prefetch); i++) p.pending.push(p.schedule());
    return p;
  }

  private spawn(): void {
    const w = new Worker(new URL('./decode-worker.js', import.meta.url));
    w.on('message', (r: DecodeResult) => {
      this.waiters.get(r.id)?.resolve(r);
      this.waiters.delete(r.id);
    });
    w.on('error', (e) => {
      for (const [id, waiter] of this.waiters) waiter.resolve({ id, error: `decode worker failed: ${e.message}` });
      this.waiters.clear();
    });
    this.workers.push(w);
  }

  private schedule(): Promise<Batch> {
    const assembled = this.chain.then(() => this.assemble());
    this.chain = assembled.catch(() => undefined);
    const batch = assembled.then((a) => this.decode(a));
    batch.catch(() => undefined); // reported by next() when its turn comes
    return batch;
  }

  /** Reads the next batch's records and decides its flips; the order is fixed by the seed. */
  private async assemble(): Promise<{ job: DecodeJob; labels: Int32Array; epoch: number; state: InputState }> {
    const { batchSize, size } = this.o;
    const index = this.batches++;
    const jpegs: Buffer[] = [];
    const labels = new Int32Array(batchSize);
    const names: string[] = [];
    const flips = new Uint8Array(batchSize);
    let epoch = 0;
    for (let i = 0; i < batchSize; i++) {
      const r = await this.stream.next();
      const file = this.o.files[r.shard]!;
      const ex = decodeImageExample(r.data, { file, recordOffset: r.offset });
      jpegs.push(ex.image);
      labels[i] = ex.label;
      names.push(`${file} record at byte ${r.offset}`);
      flips[i] = this.o.flip && this.flipRng.float() < 0.5 ? 1 : 0;
      epoch = r.epoch;
    }
    const state: InputState = { stream: this.stream.state(), flipRng: this.flipRng.state(), batches: this.batches };
    const bytes = Buffer.concat(jpegs);
    const starts = [0];
    for (const j of jpegs) starts.push(starts.at(-1)! + j.length);
    const job: DecodeJob = { id: index, n: batchSize, size, bgr: this.o.bgr, bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), starts, flips, names };
    return { job, labels, epoch, state };
  }

  private async decode(a: { job: DecodeJob; labels: Int32Array; epoch: number; state: InputState }): Promise<Batch> {
    const { job } = a;
    const result = await new Promise<DecodeResult>((resolve) => {
      this.waiters.set(job.id, { resolve });
      this.workers[job.id % this.workers.length]!.postMessage(job, [job.bytes]);
    });
    if (result.error !== undefined) throw new Error(result.error);
    return { index: job.id, n: job.n, images: result.images, labels: a.labels, epoch: a.epoch, state: a.state };
  }

  async next(): Promise<Batch> {
    const head = this.pending.shift()!;
    this.pending.push(this.schedule());
    const t0 = performance.now();
    const b = await head;
    this.waitSeconds += (performance.now() - t0) / 1000;
    return b;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.pending);
    await Promise.all(this.workers.map((w) => w.terminate()));
    await this.stream.close();
  }
}
