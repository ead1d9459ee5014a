// RecordIO throughput on a ~400 MB (by default) insightface-layout dataset of JPEG-sized records (8 KB on
// average, like MS1M): writing it, streaming it (raw records and checked images), and random
// batches by key — against reading the same file with a plain fs.createReadStream loop.
// The file is read from the page cache (it was just written): this measures our overhead, not
// the disk. Run: `npx tsc -p . && node dist/bench/recordio.js`.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { openDataset, writeInsightface, type LabeledImage } from '../src/formats/insightface.js';
import { readRecords } from '../src/formats/recordio.js';
import { formatResult, median, type BenchResult } from './timing.js';

// FACEPIPE_BENCH_RECORDIO_MB=1024 for a 1 GB run.
const TOTAL_BYTES = Number(process.env.FACEPIPE_BENCH_RECORDIO_MB ?? 400) * 2 ** 20;
const PER_CLASS = 64;
const REPEATS = 7;

export interface SyntheticImagesOptions {
  /** Payload sizes are uniform in [minBytes, maxBytes) (default 5000..11000: 8 KB on average, like MS1M). */
  minBytes?: number;
  maxBytes?: number;
  /** Turns each slice of random bytes into the payload (default: the slice itself). */
  payload?: (random: Buffer) => Uint8Array;
}

/**
 * Labeled images (64 per class) until their payloads total `totalBytes`: slices of one random pool,
 * so gigabytes are produced at memory speed. Feed it to `writeInsightface`.
 */
export function* syntheticImages(totalBytes: number, opts: SyntheticImagesOptions = {}): Generator<LabeledImage> {
  const [min, max] = [opts.minBytes ?? 5000, opts.maxBytes ?? 11000];
  const pool = randomBytes(32 << 20);
  let seed = 1;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0, bytes = 0; bytes < totalBytes; i++) {
    const size = min + Math.floor(rnd() * (max - min));
    const at = Math.floor(rnd() * (pool.length - size));
    const random = pool.subarray(at, at + size);
    const image = opts.payload ? opts.payload(random) : random;
    bytes += image.length;
    yield { image, label: Math.floor(i / PER_CLASS) };
  }
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function medianOf(f: () => Promise<unknown>): Promise<number> {
  const times = [];
  for (let i = 0; i < REPEATS; i++) times.push(await timed(f));
  return median(times);
}

export async function benchRecordio(): Promise<BenchResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facepipe-bench-recordio-'));
  try {
    let written = { numImages: 0, numClasses: 0 };
    const writeMs = await timed(async () => (written = await writeInsightface(dir, syntheticImages(TOTAL_BYTES))));
    const rec = path.join(dir, 'train.rec');
    const mb = TOTAL_BYTES / 2 ** 20;
    const n = written.numImages;

    const baselineMs = await medianOf(async () => {
      let bytes = 0;
      for await (const chunk of createReadStream(rec)) bytes += (chunk as Buffer).length;
      return bytes;
    });
    const bigChunksMs = await medianOf(async () => {
      let bytes = 0;
      for await (const chunk of createReadStream(rec, { highWaterMark: 8 << 20 })) bytes += (chunk as Buffer).length;
      return bytes;
    });
    const streamMs = await medianOf(async () => {
      let count = 0;
      for await (const { record } of readRecords(rec)) count += record.length > 0 ? 1 : 0;
      // Images, identity records and the meta record.
      if (count !== n + written.numClasses + 1) throw new Error(`read ${count} records, wrote ${n + written.numClasses + 1}`);
    });
    const ds = await openDataset(dir);
    const imagesMs = await medianOf(async () => {
      let count = 0;
      for await (const _ of ds.images()) count++;
      if (count !== n) throw new Error(`read ${count} images, wrote ${n}`);
    });
    const keys = ds.imageKeys.slice().sort(() => Math.random() - 0.5).slice(0, 20_000);
    const randomMs = await medianOf(async () => {
      for (let i = 0; i < keys.length; i += 128) await ds.readImages(keys.slice(i, i + 128));
    });
    await ds.close();
    const rate = (ms: number, what: number, unit: string): string => `${(what / (ms / 1000)).toFixed(0)} ${unit}/s`;
    return {
      name: `recordio: ${n} images (${mb} MB), ${written.numClasses} classes, warm page cache`,
      rows: [
        [`write (writeInsightface, fsync included): ${rate(writeMs, mb, 'MB')}`, writeMs],
        [`baseline fs.createReadStream loop (64 KB chunks): ${rate(baselineMs, mb, 'MB')}`, baselineMs],
        [`baseline fs.createReadStream loop (8 MB chunks): ${rate(bigChunksMs, mb, 'MB')}`, bigChunksMs],
        [`readRecords (raw records, file order): ${rate(streamMs, mb, 'MB')}, ${rate(streamMs, n, 'rec')}`, streamMs],
        [`Dataset.images() (unpacked, checked): ${rate(imagesMs, mb, 'MB')}, ${rate(imagesMs, n, 'img')}`, imagesMs],
        [`readImages, random batches of 128: ${rate(randomMs, keys.length, 'img')}`, randomMs],
      ],
      ratios: [
        ['readRecords time / createReadStream time', streamMs / baselineMs],
        ['readRecords time / createReadStream (8 MB chunks) time', streamMs / bigChunksMs],
        ['Dataset.images() time / createReadStream time', imagesMs / baselineMs],
      ],
      goal: 'streaming within ~1.5× of a plain read of the same bytes',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatResult(await benchRecordio()));
}
