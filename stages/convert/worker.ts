// A conversion worker thread. The main thread parsed the .idx once and hands over every planned
// record's offset (typed arrays in shared memory). Workers take whole shards in turn from a shared
// counter (a shard's bytes never depend on which worker wrote it), read each shard in large
// batches into reused buffers, check records where they lie and encode Examples straight into the
// writer's buffer. Anything unusual (a split or corrupt record, a bad label) goes the slow way,
// through the code behind Dataset.readImage, so errors and skipped records read exactly as there.
import { parentPort } from 'node:worker_threads';
import { ImageExampleEncoder } from '../../src/formats/example.js';
import { checkImage, labelFits, type FaceImage, type LabelRules } from '../../src/formats/insightface.js';
import { irImageStart, irLabel } from '../../src/formats/irheader.js';
import { imageInfo } from '../../src/formats/jpeg-info.js';
import { RecordFile, wholeRecord } from '../../src/formats/recordio.js';
import { TfRecordWriter } from '../../src/formats/tfrecord.js';
import { RecordBatches, type Batch } from './batches.js';

export interface ShardJob {
  index: number;
  file: string;
  /** Its records are [from, to) of the job's arrays. */
  from: number;
  to: number;
}

export interface WorkerJob {
  rec: string;
  idx: string;
  skipCorrupt: boolean;
  checkImages: 'header' | 'none';
  rules: LabelRules;
  /** Every planned record, shard after shard, in write order: key, offset, next indexed offset. */
  keys: Float64Array;
  offsets: Float64Array;
  ends: Float64Array;
  shards: ShardJob[];
  /** Shared by all workers: the next shard to take. */
  next: Int32Array;
}

export type SkipKind = 'record' | 'image';

export type WorkerMessage =
  | { type: 'progress'; records: number; bytes: number }
  | { type: 'skipped'; key: number; kind: SkipKind; reason: string }
  | { type: 'shard'; index: number; records: number; bytes: number }
  | { type: 'done' }
  | { type: 'error'; message: string };

// Measured on 2 cores with ~6 KB records (bench/convert.ts): reads of 1-8 MiB come out the same;
// writes of 4 MiB cost twice the kernel time of 1 MiB ones here. Syncing every 16 MiB in the
// background leaves the last shards' fsync little to do (~50 ms less per GB).
const READ_CHUNK = 4 << 20;
const WRITE_BUFFER = 1 << 20;
const SYNC_EVERY = 16 << 20;
const IMAGE = { file: 'image' };
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

/** Writes a shard's records; the caller closes the writer (and may start on the next shard meanwhile). */
async function writeShard(src: RecordFile, batches: RecordBatches, job: WorkerJob, shard: ShardJob): Promise<TfRecordWriter> {
  const w = await TfRecordWriter.create(shard.file, { bufferSize: WRITE_BUFFER, syncEvery: SYNC_EVERY });
  batches.reset(shard.from, shard.to);
  const enc = new ImageExampleEncoder();
  try {
    for (let b = await batches.next(); b; b = await batches.next()) {
      let [records, bytes] = [0, 0];
      for (let i = b.from; i < b.to; i++) {
        const image = fastImage(job, b, i, enc) ?? (await slowImage(src, job, i, enc));
        if (!image || (job.checkImages === 'header' && !isImage(image, job, i))) continue;
        if (!w.tryWrite(enc)) await w.write(enc);
        bytes += image.length;
        records++;
      }
      post({ type: 'progress', records, bytes });
    }
    return w;
  } catch (e) {
    await batches.close();
    await w.abort();
    throw e;
  }
}

/**
 * The image of record i when the record is whole in the batch with a readable header and a valid
 * label, and `enc` set to it; undefined otherwise. Allocates two views, nothing else.
 */
function fastImage(job: WorkerJob, b: Batch, i: number, enc: ImageExampleEncoder): Buffer | undefined {
  const record = wholeRecord(b.buf, b.start[i - b.from]!, b.limit[i - b.from]!);
  const start = record ? irImageStart(record) : -1;
  if (start < 0) return undefined;
  const label = irLabel(record!);
  if (!labelFits(job.rules, job.keys[i]!, label)) return undefined;
  const image = record!.subarray(start);
  enc.set(image, label);
  return image;
}

/** Record i read and checked on its own, as Dataset.readImage does; undefined when skipped. */
async function slowImage(src: RecordFile, job: WorkerJob, i: number, enc: ImageExampleEncoder): Promise<Buffer | undefined> {
  const [key, offset] = [job.keys[i]!, job.offsets[i]!];
  let img: FaceImage;
  try {
    img = checkImage(job.rules, key, offset, await src.readOne(key, offset, job.ends[i]!));
  } catch (e) {
    if (!job.skipCorrupt) throw e;
    post({ type: 'skipped', key, kind: 'record', reason: (e as Error).message });
    return undefined;
  }
  enc.set(img.image, img.label);
  return img.image;
}

function isImage(image: Buffer, job: WorkerJob, i: number): boolean {
  try {
    imageInfo(image, IMAGE);
    return true;
  } catch (e) {
    const key = job.keys[i]!;
    const reason = `${job.rec}, record of key ${key} at byte ${job.offsets[i]}: the payload is not an image (${(e as Error).message})`;
    if (!job.skipCorrupt) throw new Error(`${reason} — pass skip_corrupt: true to skip such records`);
    post({ type: 'skipped', key, kind: 'image', reason });
    return false;
  }
}

async function main(job: WorkerJob): Promise<void> {
  const src = await RecordFile.open(job.rec, job.idx);
  const batches = new RecordBatches(src, job, READ_CHUNK);
  const closing: Promise<void>[] = [];
  try {
    for (let s = Atomics.add(job.next, 0, 1); s < job.shards.length; s = Atomics.add(job.next, 0, 1)) {
      const shard = job.shards[s]!;
      const w = await writeShard(src, batches, job, shard);
      // Its last write and fsync overlap the next shard's work.
      const closed = w.close().then((st) => post({ type: 'shard', index: shard.index, records: st.records, bytes: st.bytes }));
      closed.catch(() => undefined);
      closing.push(closed);
    }
    await Promise.all(closing);
  } finally {
    await src.close();
  }
}

// Started before the job exists (see pool.ts), so it comes as the first message.
parentPort!.once('message', (job: WorkerJob) => {
  main(job).then(
    () => post({ type: 'done' }),
    (e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
});
