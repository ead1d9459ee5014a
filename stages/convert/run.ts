import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { openDataset } from '../../src/formats/insightface.js';
import { shardFileName } from '../../src/formats/tfrecord-shards.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import type { ConvertParams } from './index.js';
import { planShards } from './shards.js';
import type { SkipKind, WorkerJob, WorkerMessage } from './worker.js';

type Ctx = StageContext<ConvertParams>;

interface Skipped {
  key: number;
  kind: SkipKind;
  reason: string;
}

const workerUrl = new URL('./worker.js', import.meta.url);

export async function runConvert(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const input = path.resolve(ctx.baseDir, p.input);
  const idx = p.idx !== undefined ? path.resolve(ctx.baseDir, p.idx) : undefined;
  const ds = await openDataset(input, idx).catch((e: Error) => {
    throw new StageFailure(e.message);
  });
  const source = { layout: ds.layout, rec: ds.recPath, idx: ds.idxPath, images: ds.imageKeys.length, classes: ds.numClasses };
  const keys = ds.imageKeys;
  await ds.close();

  const count = p.shards ?? 8;
  const plan = planShards(keys, count, p);
  const files = plan.shards.map((_, s) => path.join(ctx.outDir, shardFileName(p.prefix ?? 'train', s, count)));
  const total = plan.shards.reduce((n, s) => n + s.length, 0);
  const results = await convertAll(ctx, plan.shards, files, total);
  // The runner already hashed the input (cache key, or the upstream stage's manifest): no re-read.
  const digests = { digest: ctx.inputDigests[input] ?? null, ...(idx !== undefined ? { idx_digest: ctx.inputDigests[idx] ?? null } : {}) };

  const dataset = {
    format: 'facepipe-tfrecord/1',
    features: { image_raw: 'bytes: the JPEG from the .rec, unchanged', label: 'int64: class id' },
    images: results.shards.reduce((n, s) => n + s.records, 0),
    classes: source.classes,
    shards: results.shards.map((s, i) => ({ file: path.basename(files[i]!), records: s.records, bytes: s.bytes })),
    shuffle: p.shuffle ?? false,
    seed: p.seed ?? 0,
    source: { layout: source.layout, images: source.images, rec: path.basename(source.rec), idx: path.basename(source.idx), ...digests },
    skipped: { count: results.skipped.length, byKind: countBy(results.skipped), first: results.skipped.slice(0, 100) },
  };
  await writeFile(path.join(ctx.outDir, 'dataset.json'), JSON.stringify(dataset, null, 2) + '\n');
  ctx.metrics({ images: dataset.images, classes: dataset.classes, shards: count, skipped: dataset.skipped.count, mb: results.bytes / 1e6, seconds: results.seconds });
}

function countBy(xs: Skipped[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x.kind] = (out[x.kind] ?? 0) + 1;
  return out;
}

interface Results {
  shards: { records: number; bytes: number }[];
  skipped: Skipped[];
  bytes: number;
  seconds: number;
}

/** Runs the workers (each owns every W-th shard) and gathers their progress and results. */
async function convertAll(ctx: Ctx, shards: number[][], files: string[], total: number): Promise<Results> {
  const n = Math.max(1, Math.min(shards.length, Number(process.env.FACEPIPE_WORKERS) || availableParallelism()));
  const t0 = Date.now();
  const res: Results = { shards: shards.map(() => ({ records: 0, bytes: 0 })), skipped: [], bytes: 0, seconds: 0 };
  let records = 0;
  const workers: Worker[] = [];
  const jobs = Array.from({ length: n }, (_, w): WorkerJob => ({
    input: path.resolve(ctx.baseDir, ctx.params.input),
    ...(ctx.params.idx !== undefined ? { idx: path.resolve(ctx.baseDir, ctx.params.idx) } : {}),
    skipCorrupt: ctx.params.skip_corrupt ?? false,
    checkImages: ctx.params.check_images ?? 'header',
    shards: shards.map((keys, index) => ({ index, file: files[index]!, keys })).filter((s) => s.index % n === w),
  }));
  const onMessage = (m: WorkerMessage) => {
    if (m.type === 'progress') {
      records += m.records;
      res.bytes += m.bytes;
      ctx.progress({ done: records, total, unit: 'records', note: `${(res.bytes / 1e6 / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(0)} MB/s` });
    } else if (m.type === 'skipped') {
      res.skipped.push({ key: m.key, kind: m.kind, reason: m.reason });
      ctx.log(`skipped: ${m.reason}`);
    } else if (m.type === 'shard') {
      res.shards[m.index] = { records: m.records, bytes: m.bytes };
    }
  };
  const stop = () => workers.forEach((w) => void w.terminate());
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    await Promise.all(jobs.map((job) => runWorker(job, onMessage, workers)));
  } catch (e) {
    stop();
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }
  ctx.signal.throwIfAborted();
  res.seconds = (Date.now() - t0) / 1000;
  res.skipped.sort((a, b) => a.key - b.key);
  return res;
}

function runWorker(job: WorkerJob, onMessage: (m: WorkerMessage) => void, all: Worker[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerUrl, { workerData: job });
    all.push(w);
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') resolve();
      else if (m.type === 'error') reject(new StageFailure(m.message));
      else onMessage(m);
    });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? undefined : reject(new StageFailure(`a conversion worker stopped (exit code ${code})`))));
  });
}
