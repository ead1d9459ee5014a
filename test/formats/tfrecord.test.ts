// TFRecord framing: CRC32C, reading TensorFlow-written files, writing them back byte for byte,
// corrupt and truncated input, atomic commit (also under kill -9), and sharded writing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { crc32c, crc32cShort, maskCrc, maskedCrc32c, unmaskCrc } from '../../src/formats/crc32c.js';
import { encodeImageExample, ImageExampleEncoder } from '../../src/formats/example.js';
import { FormatError } from '../../src/formats/errors.js';
import { shardFileName, TfRecordShardWriter } from '../../src/formats/tfrecord-shards.js';
import { readTfRecords, TfRecordWriter, type ReadTfRecordsOptions, type TfRecord, type TfRecordWriterOptions } from '../../src/formats/tfrecord.js';
import { sharedData, tempDir } from '../helpers.js';

const tf = (name: string) => path.join(sharedData, 'tfrecord', name);
const REAL = { 'tfrecord_lite/images.tfrecord': 2, 'tfrecord_lite/test.tfrecord': 42, 'pwnall/data.tfrecord': 1, 'pwnall/singles.tfrecords': 3 };

async function readAll(file: string, opts?: ReadTfRecordsOptions): Promise<TfRecord[]> {
  const out: TfRecord[] = [];
  for await (const r of readTfRecords(file, opts)) out.push(r);
  return out;
}

async function rejectsFormat(p: Promise<unknown>, file: string, offset: number, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.equal(e.offset, offset);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith(`${file} at byte ${offset}: `), e.message);
    return true;
  });
}

test('crc32c matches the Castagnoli test vector and TensorFlow masking', async () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234'))), 0xe3069283);
  for (const c of [0, 1, 0xe3069283, 0xffffffff, 0x80000000]) assert.equal(unmaskCrc(maskCrc(c)), c);
  // The length CRC stored by TensorFlow in a real file.
  const head = (await fs.readFile(tf('pwnall/data.tfrecord'))).subarray(0, 12);
  assert.equal(maskedCrc32c(head.subarray(0, 8)), head.readUInt32LE(8));
  // The JS table for short runs agrees with the native code, and either continues the other.
  const data = randomBytes(300);
  assert.equal(crc32cShort(Buffer.from('123456789'), 0, 9), 0xe3069283);
  for (const [a, b] of [[0, 300], [0, 0], [17, 40], [299, 300]] as const) assert.equal(crc32cShort(data, a, b), crc32c(data.subarray(a, b)));
  assert.equal(crc32c(data.subarray(100), crc32cShort(data, 0, 100)), crc32c(data));
  assert.equal(crc32cShort(data, 100, 300, crc32c(data.subarray(0, 100))), crc32c(data));
});

test('reads the TensorFlow-written files, whatever the chunk size', async () => {
  for (const [name, count] of Object.entries(REAL)) {
    const whole = await fs.readFile(tf(name));
    const recs = await readAll(tf(name));
    assert.equal(recs.length, count, name);
    let at = 0;
    for (const r of recs) {
      assert.equal(r.offset, at);
      assert.equal(whole.readUInt32LE(at), r.data.length);
      assert.ok(r.data.equals(whole.subarray(at + 12, at + 12 + r.data.length)));
      at += r.data.length + 16;
    }
    assert.equal(at, whole.length);
    // Tiny chunks split headers, data and CRCs across reads; capped at ~1000 reads per file for speed.
    for (const chunkSize of [1, 5, 13, 100, 17_000].filter((c) => whole.length / c < 1000)) {
      const again = await readAll(tf(name), { chunkSize });
      assert.deepEqual(again.map((r) => [r.offset, r.data.toString('hex')]), recs.map((r) => [r.offset, r.data.toString('hex')]), `${name} chunk ${chunkSize}`);
    }
  }
  assert.deepEqual((await readAll(tf('tfrecord_lite/images.tfrecord'))).map((r) => r.offset), [0, 17972]);
});

test('rewriting the records of TensorFlow files reproduces them byte for byte', async (t) => {
  const dir = await tempDir(t);
  for (const name of Object.keys(REAL)) {
    const out = path.join(dir, path.basename(name));
    const w = await TfRecordWriter.create(out, { bufferSize: 4096 });
    for await (const r of readTfRecords(tf(name))) await w.write(r.data);
    const stats = await w.close();
    const [mine, theirs] = await Promise.all([fs.readFile(out), fs.readFile(tf(name))]);
    assert.ok(mine.equals(theirs), name);
    assert.deepEqual(stats, { file: out, records: REAL[name as keyof typeof REAL], bytes: theirs.length });
  }
});

test('round trip of empty, small, buffer-sized and huge records', async (t) => {
  const file = path.join(await tempDir(t), 'r.tfrecord');
  const sizes = [0, 1, 6000, 4080, 4081, 4096, 20_000, 0, 3, 70_000];
  const recs = sizes.map((n) => randomBytes(n));
  const w = await TfRecordWriter.create(file, { bufferSize: 4096 });
  for (const r of recs) await w.write(r);
  const stats = await w.close();
  assert.equal(stats.records, recs.length);
  assert.equal(stats.bytes, (await fs.stat(file)).size);
  for (const chunkSize of [61, 4096, 1 << 20]) {
    const back = await readAll(file, { chunkSize });
    assert.deepEqual(back.map((r) => r.data.toString('hex')), recs.map((r) => r.toString('hex')));
  }
  assert.deepEqual(await readAll(file, { verify: false }).then((b) => b.length), recs.length);
});

test('a record given in parts is written as their concatenation', async (t) => {
  const file = path.join(await tempDir(t), 'parts.tfrecord');
  const w = await TfRecordWriter.create(file, { bufferSize: 256 });
  const records = [[Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cde')], [], [randomBytes(100), randomBytes(300)], [Buffer.from('z')]];
  for (const r of records) await w.write(r);
  const stats = await w.close();
  const back = await readAll(file);
  assert.deepEqual(back.map((r) => r.data.toString('hex')), records.map((r) => Buffer.concat(r).toString('hex')));
  assert.equal(stats.bytes, records.reduce((n, r) => n + Buffer.concat(r).length + 16, 0));
});

test('records from an encoder, with tryWrite or write, are the encoded bytes', async (t) => {
  const file = path.join(await tempDir(t), 'enc.tfrecord');
  const w = await TfRecordWriter.create(file, { bufferSize: 8192 });
  const enc = new ImageExampleEncoder();
  const images = [0, 10, 3000, 8000, 20_000, 1].map((n) => randomBytes(n));
  let fast = 0;
  for (const [i, image] of images.entries()) {
    enc.set(image, i * 1000);
    if (w.tryWrite(enc)) fast++;
    else await w.write(enc);
  }
  assert.ok(fast > 0 && fast < images.length, `${fast} of ${images.length} fitted without a write`);
  await w.close();
  const back = await readAll(file);
  assert.deepEqual(back.map((r) => r.data.toString('hex')), images.map((image, i) => encodeImageExample(image, i * 1000).toString('hex')));
  assert.equal(w.tryWrite(enc), false, 'not after close');
});

test('background syncs while writing leave the file as it would be without them', async (t) => {
  const dir = await tempDir(t);
  const recs = [0, 1, 4080, 70_000, 3, 20_000, 6000, 5].map((n) => randomBytes(n));
  const write = async (name: string, opts: TfRecordWriterOptions) => {
    const w = await TfRecordWriter.create(path.join(dir, name), opts);
    for (const r of recs) await w.write(r);
    assert.equal((await w.close()).bytes, (await fs.stat(path.join(dir, name))).size);
    return fs.readFile(path.join(dir, name));
  };
  const plain = await write('plain', { bufferSize: 4096 });
  assert.ok((await write('synced', { bufferSize: 4096, syncEvery: 1 })).equals(plain));
  assert.ok((await write('synced-rarely', { bufferSize: 4096, syncEvery: 50_000 })).equals(plain));
  const aborted = await TfRecordWriter.create(path.join(dir, 'gone'), { bufferSize: 64, syncEvery: 1 });
  for (const r of recs) await aborted.write(r);
  await aborted.abort();
  assert.deepEqual((await fs.readdir(dir)).sort(), ['plain', 'synced', 'synced-rarely']);
});

test('a file appears only on close; abort and failed use leave nothing', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'x.tfrecord');
  const w = await TfRecordWriter.create(file, { bufferSize: 64 });
  for (let i = 0; i < 100; i++) await w.write(Buffer.alloc(40, i));
  assert.deepEqual((await fs.readdir(dir)).filter((f) => f === 'x.tfrecord'), []);
  assert.equal((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')).length, 1);
  await w.close();
  assert.deepEqual(await fs.readdir(dir), ['x.tfrecord']);
  await assert.rejects(w.write(Buffer.alloc(1)), /after close/);

  const a = await TfRecordWriter.create(path.join(dir, 'a.tfrecord'));
  await a.write(Buffer.alloc(10));
  await a.abort();
  await a.abort();
  assert.deepEqual(await fs.readdir(dir), ['x.tfrecord']);

  const b = await TfRecordWriter.create(path.join(dir, 'b.tfrecord'), { bufferSize: 32 });
  const first = b.write(Buffer.alloc(100));
  await assert.rejects(b.write(Buffer.alloc(1)), /await each write/);
  await first;
  await b.abort();
  assert.deepEqual(await fs.readdir(dir), ['x.tfrecord']);
});

test('kill -9 while writing never leaves a file under the final name', async (t) => {
  const dir = await tempDir(t);
  const mod = JSON.stringify(new URL('../../src/formats/tfrecord.js', import.meta.url).href);
  const code = `import { TfRecordWriter } from ${mod};
    const w = await TfRecordWriter.create(${JSON.stringify(path.join(dir, 'k.tfrecord'))}, { bufferSize: 1000 });
    for (let i = 0; i < 500; i++) await w.write(Buffer.alloc(100, i));
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code]);
  assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
  const left = await fs.readdir(dir);
  assert.ok(!left.includes('k.tfrecord'), left.join());
  assert.equal(left.length, 1); // the temporary file, with the records flushed so far
  assert.ok((await fs.stat(path.join(dir, left[0]!))).size > 0);
});

test('corrupt input: errors name the file, the record offset and what to do', async (t) => {
  const dir = await tempDir(t);
  const orig = await fs.readFile(tf('tfrecord_lite/test.tfrecord'));
  const recs = await readAll(tf('tfrecord_lite/test.tfrecord'));
  const at1 = recs[1]!.offset;
  const write = async (name: string, bytes: Buffer) => {
    const f = path.join(dir, name);
    await fs.writeFile(f, bytes);
    return f;
  };

  const lenFlip = Buffer.from(orig);
  lenFlip[at1] ^= 1;
  const f1 = await write('len.tfrecord', lenFlip);
  await rejectsFormat(readAll(f1), f1, at1, /record 1: the length field fails its CRC check.*re-create or re-download/);

  const dataFlip = Buffer.from(orig);
  dataFlip[at1 + 20] ^= 0x40;
  const f2 = await write('data.tfrecord', dataFlip);
  await rejectsFormat(readAll(f2), f2, at1, /record 1 \(\d+ bytes\): its data fails the CRC check/);
  assert.equal((await readAll(f2, { verify: false })).length, 42); // skipping checks reads it

  const cut = recs[5]!.offset + 30;
  const f3 = await write('cut.tfrecord', orig.subarray(0, cut));
  await rejectsFormat(readAll(f3), f3, recs[5]!.offset, /record 5 is truncated: its header says \d+ data bytes, but only 18 bytes follow.*cut short/);
  await rejectsFormat(readAll(f3, { verify: false }), f3, recs[5]!.offset, /truncated/);
  assert.equal((await readAll(f3, { truncatedTail: 'stop' })).length, 5);

  const f4 = await write('tail.tfrecord', orig.subarray(0, recs[2]!.offset + 7));
  await rejectsFormat(readAll(f4), f4, recs[2]!.offset, /record 2 is truncated: only 7 bytes remain/);

  const f5 = await write('random.bin', randomBytes(5000));
  await rejectsFormat(readAll(f5), f5, 0, /record 0: the length field fails its CRC check/);
  // Unchecked, a garbage length is still caught before anything is allocated for it.
  await rejectsFormat(readAll(f5, { verify: false }), f5, 0, /record 0 is truncated/);

  assert.deepEqual(await readAll(await write('empty.tfrecord', Buffer.alloc(0))), []);
  await assert.rejects(readAll(path.join(dir, 'missing.tfrecord')), /ENOENT/);
});

test('shards: TensorFlow names, round-robin or chosen, committed together', async (t) => {
  assert.equal(shardFileName('train', 3, 8), 'train-00003-of-00008.tfrecord');
  const dir = await tempDir(t);
  const prefix = path.join(dir, 'faces');
  const s = await TfRecordShardWriter.create(prefix, 3, { bufferSize: 64 });
  assert.deepEqual(s.files.map((f) => path.basename(f)), ['faces-00000-of-00003.tfrecord', 'faces-00001-of-00003.tfrecord', 'faces-00002-of-00003.tfrecord']);
  for (let i = 0; i < 7; i++) await s.write(Buffer.from(`rr${i}`));
  await s.write(Buffer.from('chosen'), 2);
  await s.write(Buffer.from('rr7')); // round-robin carries on where it was
  await assert.rejects(s.write(Buffer.from('x'), 3), /shard index 3 is out of range: there are 3 shards/);
  assert.deepEqual((await fs.readdir(dir)).filter((f) => f.endsWith('.tfrecord')), []);
  const stats = await s.close();
  const contents = await Promise.all(s.files.map(async (f) => (await readAll(f)).map((r) => r.data.toString())));
  assert.deepEqual(contents, [['rr0', 'rr3', 'rr6'], ['rr1', 'rr4', 'rr7'], ['rr2', 'rr5', 'chosen']]);
  assert.deepEqual(stats.shards.map((x) => x.records), [3, 3, 3]);
  for (const sh of stats.shards) assert.equal(sh.bytes, (await fs.stat(sh.file)).size);
  assert.equal(stats.records, 9);
  assert.equal(stats.bytes, stats.shards.reduce((a, x) => a + x.bytes, 0));
  assert.deepEqual((await fs.readdir(dir)).sort(), s.files.map((f) => path.basename(f)));

  const dropped = await TfRecordShardWriter.create(path.join(dir, 'drop'), 2);
  await dropped.write(Buffer.from('x'));
  await dropped.abort();
  assert.equal((await fs.readdir(dir)).length, 3);
  await assert.rejects(TfRecordShardWriter.create(prefix, 0), FormatError);
  await assert.rejects(TfRecordShardWriter.create(prefix, 100_000), /from 1 to 99999/);
});

test('a shard set whose commit fails leaves no shard behind', async (t) => {
  const dir = await tempDir(t);
  const s = await TfRecordShardWriter.create(path.join(dir, 'p'), 4);
  for (let i = 0; i < 8; i++) await s.write(Buffer.from([i]));
  // A folder where shard 2 should go makes its rename fail after shards 0 and 1 were renamed.
  await fs.mkdir(s.files[2]!);
  await fs.writeFile(path.join(s.files[2]!, 'occupied'), '');
  await assert.rejects(s.close());
  assert.deepEqual(await fs.readdir(dir), [path.basename(s.files[2]!)]);
});
