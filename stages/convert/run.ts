import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openDataset, type Dataset } from '../../src/formats/insightface.js';
import { shardFileName } from '../../src/formats/tfrecord-shards.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import type { ConvertParams } from './index.js';
import { WorkerPool, workerCount } from './pool.js';
import { planShards, type ShardPlan } from './shards.js';
import type { ShardJob, SkipKind, WorkerJob, WorkerMessage } from './worker.js';

type Ctx = StageContext<ConvertParams>;

interface Skipped {
  key: number;
  kind: SkipKind;
  reason: string;
}

export async function runConvert(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const input = path.resolve(ctx.baseDir, p.input);
  const idx = p.idx !== undefined ? path.resolve(ctx.baseDir, p.idx) : undefined;
  const count = p.shards ?? 8;
  const files = Array.from({ length: count }, (_, s) => path.join(ctx.outDir, shardFileName(p.prefix ?? 'train', s, count)));
  // The clock starts before the workers and the .idx parsing, which overlap.
  const [t0, cpu0] = [Date.now(), process.cpuUsage()];
  const results = new Results(ctx, count, t0);
  const pool = new WorkerPool(workerCount(count), (m) => results.add(m));
  const stop = () => pool.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  let source: Source;
  try {
    const prepared = await prepare(input, idx, files, p);
    source = prepared.source;
    results.total = prepared.job.keys.length;
    await pool.run(prepared.job);
  } catch (e) {
    pool.stop();
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }
  ctx.signal.throwIfAborted();
  const seconds = (Date.now() - t0) / 1000;
  // This process's CPU time: the main thread, the workers and the I/O threads, kernel time included.
  const cpu = process.cpuUsage(cpu0);
  const skipped = results.skipped.sort((a, b) => a.key - b.key);
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
    skipped: { count: skipped.length, byKind: countBy(skipped), first: skipped.slice(0, 100) },
  };
  await writeFile(path.join(ctx.outDir, 'dataset.json'), JSON.stringify(dataset, null, 2) + '\n');
  ctx.metrics({ images: dataset.images, classes: dataset.classes, shards: count, skipped: dataset.skipped.count, mb: results.bytes / 1e6, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6 });
}

interface Source {
  layout: string;
  rec: string;
  idx: string;
  images: number;
  classes: number;
}

/** Opens the dataset (parsing the .idx), plans the shards and builds the workers' job. */
async function prepare(input: string, idx: string | undefined, files: string[], p: ConvertParams): Promise<{ source: Source; job: WorkerJob }> {
  const ds = await openDataset(input, idx).catch((e: Error) => {
    throw new StageFailure(e.message);
  });
  try {
    const source = { layout: ds.layout, rec: ds.recPath, idx: ds.idxPath, images: ds.imageKeys.length, classes: ds.numClasses };
    return { source, job: workerJob(ds, planShards(ds.imageKeys, files.length, p), files, p) };
  } finally {
    await ds.close();
  }
}

function countBy(xs: Skipped[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x.kind] = (out[x.kind] ?? 0) + 1;
  return out;
}

/** What the workers report: progress (passed on to the runner), skipped records, finished shards. */
class Results {
  readonly shards: { records: number; bytes: number }[];
  readonly skipped: Skipped[] = [];
  /** Image bytes converted. */
  bytes = 0;
  records = 0;
  /** Records planned, once known. */
  total = 0;

  constructor(private readonly ctx: Ctx, count: number, private readonly t0: number) {
    this.shards = Array.from({ length: count }, () => ({ records: 0, bytes: 0 }));
  }

  add(m: WorkerMessage): void {
    if (m.type === 'progress') {
      this.records += m.records;
      this.bytes += m.bytes;
      const rate = this.bytes / 1e6 / Math.max(0.001, (Date.now() - this.t0) / 1000);
      this.ctx.progress({ done: this.records, total: this.total, unit: 'records', note: `${rate.toFixed(0)} MB/s` });
    } else if (m.type === 'skipped') {
      this.skipped.push({ key: m.key, kind: m.kind, reason: m.reason });
      this.ctx.log(`skipped: ${m.reason}`);
    } else if (m.type === 'shard') {
      this.shards[m.index] = { records: m.records, bytes: m.bytes };
    }
  }
}

const shared = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(8 * n));

/**
 * What every worker gets: the planned records' keys and where they lie (from the .idx, parsed once
 * here, in shared memory rather than re-parsed per worker), the label rules and the shards.
 */
function workerJob(ds: Dataset, plan: ShardPlan, files: string[], p: ConvertParams): WorkerJob {
  const total = plan.shards.reduce((n, s) => n + s.length, 0);
  const [keys, offsets, ends] = [shared(total), shared(total), shared(total)];
  const shards: ShardJob[] = [];
  let at = 0;
  plan.shards.forEach((shardKeys, index) => {
    keys.set(shardKeys, at);
    ds.locate(shardKeys, offsets, ends, at);
    shards.push({ index, file: files[index]!, from: at, to: (at += shardKeys.length) });
  });
  return {
    rec: ds.recPath,
    idx: ds.idxPath,
    skipCorrupt: p.skip_corrupt ?? false,
    checkImages: p.check_images ?? 'header',
    rules: ds.rules,
    keys,
    offsets,
    ends,
    shards,
    next: new Int32Array(new SharedArrayBuffer(4)),
  };
}
