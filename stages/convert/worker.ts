// A conversion worker thread: writes whole shards. Each worker opens the dataset itself and reads
// its shards' records by key (merged positional reads), checks them, and frames Examples without
// copying the JPEG more than once.
import { parentPort, workerData } from 'node:worker_threads';
import { imageExampleParts } from '../../src/formats/example.js';
import { openDataset, type Dataset, type FaceImage } from '../../src/formats/insightface.js';
import { imageInfo } from '../../src/formats/jpeg-info.js';
import { TfRecordWriter } from '../../src/formats/tfrecord.js';

export interface WorkerJob {
  input: string;
  idx?: string;
  skipCorrupt: boolean;
  checkImages: 'header' | 'none';
  shards: { index: number; file: string; keys: number[] }[];
}

export type SkipKind = 'record' | 'image';

export type WorkerMessage =
  | { type: 'progress'; records: number; bytes: number }
  | { type: 'skipped'; key: number; kind: SkipKind; reason: string }
  | { type: 'shard'; index: number; records: number; bytes: number }
  | { type: 'done' }
  | { type: 'error'; message: string };

const BATCH = 256;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

async function convertShard(ds: Dataset, job: WorkerJob, shard: WorkerJob['shards'][number]): Promise<void> {
  const w = await TfRecordWriter.create(shard.file);
  try {
    for (let i = 0; i < shard.keys.length; i += BATCH) {
      const keys = shard.keys.slice(i, i + BATCH);
      let bytes = 0;
      let records = 0;
      for (const img of await readBatch(ds, keys, job.skipCorrupt)) {
        if (job.checkImages === 'header' && !isImage(img, job.skipCorrupt, ds.recPath)) continue;
        await w.write(imageExampleParts(img.image, img.label));
        bytes += img.image.length;
        records++;
      }
      post({ type: 'progress', records, bytes });
    }
    const stats = await w.close();
    post({ type: 'shard', index: shard.index, records: stats.records, bytes: stats.bytes });
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** A batch in one merged read; when something in it is corrupt, key by key to isolate it. */
async function readBatch(ds: Dataset, keys: number[], skip: boolean): Promise<FaceImage[]> {
  try {
    return await ds.readImages(keys);
  } catch (e) {
    if (!skip) throw e;
  }
  const out: FaceImage[] = [];
  for (const key of keys) {
    try {
      out.push(await ds.readImage(key));
    } catch (e) {
      post({ type: 'skipped', key, kind: 'record', reason: (e as Error).message });
    }
  }
  return out;
}

function isImage(img: FaceImage, skip: boolean, file: string): boolean {
  try {
    imageInfo(img.image, { file: 'image' });
    return true;
  } catch (e) {
    const reason = `${file}, record of key ${img.key} at byte ${img.offset}: the payload is not an image (${(e as Error).message})`;
    if (!skip) throw new Error(`${reason} — pass skip_corrupt: true to skip such records`);
    post({ type: 'skipped', key: img.key, kind: 'image', reason });
    return false;
  }
}

async function main(job: WorkerJob): Promise<void> {
  const ds = await openDataset(job.input, job.idx);
  try {
    for (const shard of job.shards) await convertShard(ds, job, shard);
  } finally {
    await ds.close();
  }
}

main(workerData as WorkerJob).then(
  () => post({ type: 'done' }),
  (e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
);
