import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { InputPipeline, type Batch, type InputOptions } from '../../src/data/input.js';
import { MEAN, SCALE } from '../../src/data/pixels.js';
import { encodeImageExample } from '../../src/formats/example.js';
import { decodeImage, encodeJpeg } from '../../src/formats/image.js';
import { TfRecordWriter } from '../../src/formats/tfrecord.js';
import { tempDir } from '../helpers.js';

const SIZE = 8;

/** Three shards of 10, 7 and 5 records; record i has label i and a gradient image keyed by i. */
async function shards(dir: string): Promise<{ files: string[]; jpegs: Buffer[] }> {
  const files: string[] = [];
  const jpegs: Buffer[] = [];
  let label = 0;
  for (const [s, n] of [10, 7, 5].entries()) {
    const file = path.join(dir, `train-${s}.tfrecord`);
    const w = await TfRecordWriter.create(file);
    for (let i = 0; i < n; i++, label++) {
      const px = new Uint8Array(SIZE * SIZE * 3).map((_, k) => (k * 13 + label * 29) % 256);
      const jpeg = await encodeJpeg(px, SIZE, SIZE, 3, { quality: 100, subsampling: '4:4:4' });
      jpegs.push(jpeg);
      await w.write(encodeImageExample(jpeg, label));
    }
    await w.close();
    files.push(file);
  }
  return { files, jpegs };
}

const opts = (files: string[], over: Partial<InputOptions> = {}): InputOptions => ({
  files, batchSize: 4, seed: 11, shuffleBuffer: 6, shuffleShards: true, flip: true, bgr: false, size: SIZE, workers: 2, prefetch: 3, ...over,
});

async function take(o: InputOptions, n: number, state?: Batch['state']): Promise<Batch[]> {
  const p = await InputPipeline.open(o, state);
  try {
    const out: Batch[] = [];
    for (let i = 0; i < n; i++) out.push(await p.next());
    return out;
  } finally {
    await p.close();
  }
}

const same = (a: Batch, b: Batch) => {
  assert.deepEqual([...a.labels], [...b.labels]);
  assert.deepEqual(a.images, b.images);
};

test('without shuffling, records come in file order, epoch after epoch', async (t) => {
  const { files } = await shards(await tempDir(t));
  const batches = await take(opts(files, { shuffleBuffer: 0, shuffleShards: false, flip: false, batchSize: 5 }), 6);
  assert.deepEqual(batches.flatMap((b) => [...b.labels]), [...[...Array(22).keys()], ...[...Array(8).keys()]]);
  assert.deepEqual(batches.map((b) => b.epoch), [0, 0, 0, 0, 1, 1]);
});

test('the same seed gives the same batches; the saved position resumes at exactly the next batch', async (t) => {
  const { files } = await shards(await tempDir(t));
  const o = opts(files);
  const all = await take(o, 9);
  (await take(o, 9)).forEach((b, i) => same(b, all[i]!));
  const labels = all.flatMap((b) => [...b.labels]);
  assert.notDeepEqual(labels.slice(0, 22), [...Array(22).keys()], 'shuffled');
  const first = await take(o, 4);
  const saved = JSON.parse(JSON.stringify(first[3]!.state)) as Batch['state'];
  (await take(o, 5, saved)).forEach((b, i) => same(b, all[4 + i]!));
  const other = await take(opts(files, { seed: 12 }), 3);
  assert.notDeepEqual(other.flatMap((b) => [...b.labels]), labels.slice(0, 12));
});

test('pixels are normalised as (x − 127.5) / 128, mirrored when flipped, and BGR on request', async (t) => {
  const { files, jpegs } = await shards(await tempDir(t));
  const o = opts(files, { shuffleBuffer: 0, shuffleShards: false, batchSize: 22 });
  const [rgb] = await take(o, 1);
  const [bgr] = await take({ ...o, bgr: true }, 1);
  const [plain] = await take({ ...o, flip: false }, 1);
  let flipped = 0;
  for (let i = 0; i < 22; i++) {
    const ref = await decodeImage(jpegs[i]!, { channels: 3 });
    const at = i * SIZE * SIZE * 3;
    const isFlipped = rgb!.images[at] !== plain!.images[at] || rgb!.images[at + 1] !== plain!.images[at + 1];
    flipped += isFlipped ? 1 : 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const sx = isFlipped ? SIZE - 1 - x : x;
        for (let c = 0; c < 3; c++) {
          const want = Math.fround((ref.data[(y * SIZE + sx) * 3 + c]! - MEAN) * SCALE);
          assert.equal(rgb!.images[at + (y * SIZE + x) * 3 + c], want);
          assert.equal(bgr!.images[at + (y * SIZE + x) * 3 + (2 - c)], want);
        }
      }
    }
  }
  assert.ok(flipped > 4 && flipped < 18, `about half the images are flipped (${flipped}/22)`);
});

test('an image of the wrong size is an error naming its shard and record', async (t) => {
  const { files } = await shards(await tempDir(t));
  await assert.rejects(take(opts(files, { size: 16 }), 1), /train-\d\.tfrecord record at byte \d+: the image is 8×8, the model expects 16×16/);
});
