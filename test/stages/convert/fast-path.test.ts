// The convert workers' fast path (batched reads into reused buffers, records checked in place,
// Examples encoded into the writer's buffer) against the plain path through Dataset.readImages:
// the same bytes for awkward inputs, and the same skipped records with their reasons.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { encodeImageExample } from '../../../src/formats/example.js';
import { encodeJpeg } from '../../../src/formats/image.js';
import { openDataset } from '../../../src/formats/insightface.js';
import { packIR } from '../../../src/formats/irheader.js';
import { MAGIC_BYTES, RecordFile } from '../../../src/formats/recordio.js';
import { RecordWriter } from '../../../src/formats/recordio-writer.js';
import { shardFileName } from '../../../src/formats/tfrecord-shards.js';
import { TfRecordWriter } from '../../../src/formats/tfrecord.js';
import { RecordBatches } from '../../../stages/convert/batches.js';
import { planShards } from '../../../stages/convert/shards.js';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';

const N = 120;

/**
 * A plain .rec of N JPEG records with what the fast path must hand to the slow one: split records
 * (payloads with aligned magic words), one record over the 1 MiB span cap, labels given as arrays;
 * `sparse` drops every third .idx line, so spans cover unlisted records too.
 */
async function awkwardRec(dir: string, opts: { sparse?: boolean } = {}): Promise<string> {
  const rec = path.join(dir, 'a.rec');
  const w = await RecordWriter.create(rec);
  const jpeg = await encodeJpeg(new Uint8Array(8 * 8 * 3).fill(40), 8, 8, 3);
  const body = jpeg.subarray(0, jpeg.length - 2);
  const eoi = jpeg.subarray(jpeg.length - 2);
  for (let k = 0; k < N; k++) {
    const middle = k % 17 === 3 ? Buffer.concat([Buffer.alloc(2), MAGIC_BYTES, MAGIC_BYTES]) : k === 50 ? Buffer.alloc(1_200_000, 5) : Buffer.alloc(k * 37, k);
    const image = Buffer.concat([body, middle, eoi]);
    await w.write(packIR({ label: k % 5 === 0 ? [k % 4, 0.5] : k % 4, id: k }, image), 1000 + k);
  }
  await w.close();
  await writeFile(path.join(dir, 'property'), '4,8,8\n');
  if (opts.sparse) {
    const lines = (await readFile(path.join(dir, 'a.idx'), 'utf8')).trim().split('\n');
    await writeFile(path.join(dir, 'a.idx'), lines.filter((_, i) => i % 3 !== 1).join('\n') + '\n');
  }
  return rec;
}

/** The shards as the plain path makes them: planShards, Dataset.readImages, encodeImageExample. */
async function reference(rec: string, out: string, shards: number, opts: { shuffle?: boolean; seed?: number }): Promise<Map<string, Buffer>> {
  const ds = await openDataset(rec);
  const files = new Map<string, Buffer>();
  try {
    for (const [s, keys] of planShards(ds.imageKeys, shards, opts).shards.entries()) {
      const file = path.join(out, shardFileName('train', s, shards));
      const w = await TfRecordWriter.create(file, { durable: false });
      for (const img of await ds.readImages(keys)) await w.write(encodeImageExample(img.image, img.label));
      await w.close();
      files.set(path.basename(file), await readFile(file));
    }
  } finally {
    await ds.close();
  }
  return files;
}

async function stageShards(dir: string, withBlock: string, env: Record<string, string> = {}): Promise<{ files: Map<string, Buffer>; meta: Record<string, any> }> {
  await writeFiles(dir, { 'p.yaml': `stages:\n  convert:\n    uses: convert\n    with: {${withBlock}}\n` });
  const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir, env });
  assert.equal(r.exitCode, 0, r.all);
  const out = (JSON.parse(r.stdout) as { stages: { outDir: string }[] }).stages[0]!.outDir;
  const files = new Map<string, Buffer>();
  for (const f of (await readdir(out)).filter((f) => f.endsWith('.tfrecord')).sort()) files.set(f, await readFile(path.join(out, f)));
  return { files, meta: JSON.parse(await readFile(path.join(out, 'dataset.json'), 'utf8')) as Record<string, any> };
}

for (const sparse of [false, true]) {
  test(`split, oversized and multi-label records convert as the plain path does${sparse ? ' (sparse .idx)' : ''}, for any worker count`, async (t) => {
    const dir = await tempDir(t);
    await awkwardRec(dir, { sparse });
    for (const [params, env] of [['shards: 3', '1'], ['shards: 3', '3'], ['shards: 4, shuffle: true, seed: 9', '2']] as const) {
      const want = await reference(path.join(dir, 'a.rec'), dir, params.startsWith('shards: 3') ? 3 : 4, params.includes('shuffle') ? { shuffle: true, seed: 9 } : {});
      const { files, meta } = await stageShards(dir, `input: a.rec, ${params}`, { FACEPIPE_WORKERS: env });
      assert.deepEqual([...files.keys()], [...want.keys()]);
      for (const [name, bytes] of want) assert.ok(files.get(name)!.equals(bytes), `${name} (${params}, ${env} workers)`);
      assert.equal(meta.images, sparse ? N - N / 3 : N);
    }
  });
}

test('skip_corrupt isolates each bad record, wherever it lies in a batch, with the reason the plain path gives', async (t) => {
  const dir = await tempDir(t);
  const rec = await awkwardRec(dir);
  const offsets = new Map((await readFile(path.join(dir, 'a.idx'), 'utf8')).trim().split('\n').map((l) => l.split('\t').map(Number) as [number, number]));
  const b = await readFile(rec);
  b[offsets.get(1000)!] ^= 0xff; // bad magic word: the first record
  b.writeFloatLE(2.5, offsets.get(1061)! + 12); // a label that is no class id
  b.writeUInt32LE(0x20202020, offsets.get(1062)! + 8 + 24); // a payload that is no image
  const lrec = b.readUInt32LE(offsets.get(1003)! + 4);
  b.writeUInt32LE(lrec + 2 ** 29, offsets.get(1003)! + 4); // a split record's first part, now a middle part without one
  await writeFile(rec, b);
  const { meta } = await stageShards(dir, 'input: a.rec, shards: 2, skip_corrupt: true');
  assert.equal(meta.images, N - 4);
  assert.deepEqual(meta.skipped.byKind, { record: 3, image: 1 });
  const ds = await openDataset(rec);
  for (const s of meta.skipped.first as { key: number; kind: string; reason: string }[]) {
    if (s.kind === 'record') await assert.rejects(ds.readImage(s.key), (e: Error) => e.message === s.reason);
    else assert.match(s.reason, new RegExp(`a\\.rec, record of key ${s.key} at byte ${offsets.get(s.key)}: the payload is not an image`));
  }
  await ds.close();
  assert.deepEqual(meta.skipped.first.map((s: { key: number }) => s.key), [1000, 1003, 1061, 1062]);
});

test('RecordBatches: every record once, in order, neighbours in one read, across shards and chunk sizes', async (t) => {
  const dir = await tempDir(t);
  const rec = await awkwardRec(dir, { sparse: true });
  const ds = await openDataset(rec);
  const keys = ds.imageKeys;
  const [offsets, ends] = [new Float64Array(keys.length), new Float64Array(keys.length)];
  ds.locate(keys, offsets, ends);
  await ds.close();
  const src = await RecordFile.open(rec);
  const whole = await readFile(rec);
  for (const chunk of [1, 5000, 1 << 22]) {
    const batches = new RecordBatches(src, { offsets, ends }, chunk);
    for (const [from, to] of [[0, 30], [30, keys.length]] as const) {
      batches.reset(from, to);
      let next: number = from;
      for (let b = await batches.next(); b; b = await batches.next()) {
        assert.equal(b.from, next);
        for (let i = b.from; i < b.to; i++) {
          const start: number = b.start[i - b.from]!;
          const limit: number = b.limit[i - b.from]!;
          const span = Math.min(ends[i]! - offsets[i]!, 1 << 20);
          assert.equal(limit - start, span, `record ${i}: its whole span was read`);
          assert.ok(b.buf.subarray(start, limit).equals(whole.subarray(offsets[i], offsets[i]! + span)), `record ${i}, chunk ${chunk}`);
        }
        next = b.to;
      }
      assert.equal(next, to);
    }
  }
  await src.close();
});
