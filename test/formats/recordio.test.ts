// MXNet RecordIO: the real im2rec file, byte-identical writing (against dmlc-core's writer),
// split records, IRHeader, and every error path with its offset.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../../src/formats/errors.js';
import { classId, firstLabel, irImageStart, irLabel, packIR, unpackIR } from '../../src/formats/irheader.js';
import { IndexedRecordReader, MAGIC_BYTES, readRecords, RecordFile, wholeRecord } from '../../src/formats/recordio.js';
import { RecordWriter } from '../../src/formats/recordio-writer.js';
import { sharedData, tempDir } from '../helpers.js';

const popkorn = path.join(sharedData, 'rec', 'adaface_popkorn');
const realRec = path.join(popkorn, 'data_train.rec');

async function collect(file: string, chunkSize?: number): Promise<Array<{ offset: number; record: Buffer }>> {
  const out = [];
  for await (const e of readRecords(file, { chunkSize })) out.push(e);
  return out;
}

/** One raw part: magic, lrec, payload, zero padding. */
function part(cflag: number, payload: Buffer | number[]): Buffer {
  const data = Buffer.from(payload);
  const head = Buffer.alloc(8);
  MAGIC_BYTES.copy(head);
  head.writeUInt32LE(((cflag << 29) | data.length) >>> 0, 4);
  return Buffer.concat([head, data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
}

/** Asserts `f` rejects with a FormatError naming `file` and byte `offset`, whose message matches. */
async function rejectsAt(f: () => Promise<unknown>, file: string, offset: number | undefined, match: RegExp): Promise<void> {
  await assert.rejects(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, `not a FormatError: ${e}`);
    assert.equal(e.file, file);
    assert.equal(e.offset, offset);
    assert.match(e.message, match);
    return true;
  });
}

test('reads the real im2rec file: 8 JPEG records whose labels and ids match the .lst', async () => {
  const lst = (await readFile(path.join(popkorn, 'data_train.lst'), 'utf8')).trim().split('\n').map((l) => l.split('\t'));
  const idx = (await readFile(path.join(popkorn, 'data_train.idx'), 'utf8')).trim().split('\n').map((l) => l.split('\t').map(Number));
  const records = await collect(realRec, 4096); // small chunks: records straddle reads
  assert.deepEqual(records.map((r) => r.offset), idx.map(([, offset]) => offset));
  records.forEach(({ record }, i) => {
    const { header, image } = unpackIR(record);
    assert.equal(header.flag, 0);
    assert.equal(Number(header.id), idx[i]![0]);
    assert.equal(header.label, Number(lst[i]![1]));
    assert.equal(Number(lst[i]![0]), idx[i]![0]);
    assert.deepEqual([...image.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...image.subarray(-2)], [0xff, 0xd9]);
    assert.equal(image.buffer, record.buffer, 'image is a view, not a copy');
  });
  const reader = await IndexedRecordReader.open(realRec);
  assert.deepEqual(reader.keys, [0, 4, 7, 5, 1, 6, 3, 2]);
  const byKey = await reader.readMany([2, 0, 6]);
  assert.deepEqual(byKey.map((r) => Number(unpackIR(r).header.id)), [2, 0, 6]);
  assert.ok(byKey[0]!.equals(records[7]!.record));
  await reader.close();
});

test('rewrites the real file byte for byte, .idx included', async (t) => {
  const dir = await tempDir(t);
  const idxText = await readFile(path.join(popkorn, 'data_train.idx'), 'utf8');
  const keys = idxText.trim().split('\n').map((l) => Number(l.split('\t')[0]));
  const out = path.join(dir, 'copy.rec');
  const writer = await RecordWriter.create(out);
  let i = 0;
  for await (const { record } of readRecords(realRec)) {
    const { header, image } = unpackIR(record);
    await writer.write(packIR({ label: header.label, id: header.id }, image), keys[i++]);
  }
  await writer.close();
  assert.ok((await readFile(out)).equals(await readFile(realRec)));
  assert.equal(await readFile(path.join(dir, 'copy.idx'), 'utf8'), idxText);
});

// Records with magic words at aligned and unaligned offsets. dmlc-core's own RecordIOWriter
// (src/recordio.cc at 5295de9, compiled with g++) wrote these 404 records to a file with this
// sha256, making 470 cuts; it read them back unchanged.
const DMLC_SHA256 = 'b66375222f1664992e8acfa69e14483f09c5e6f2379eae5b2aae553e1aa74ffb';
function goldenRecords(): Buffer[] {
  let seed = 12345;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const recs: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const len = i < 20 ? i : Math.floor(rnd() * 3000);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    const magics = Math.floor(rnd() * 4);
    for (let k = 0; k < magics && len >= 4; k++) {
      const at = Math.floor(rnd() * (len - 3));
      MAGIC_BYTES.copy(b, rnd() < 0.7 ? at & ~3 : at);
    }
    recs.push(b);
  }
  const M = MAGIC_BYTES;
  recs.push(Buffer.concat([M, M, M]), Buffer.concat([M, M, Buffer.from([1])]), M, Buffer.concat([Buffer.from([1, 2, 3, 4]), M]));
  return recs;
}

test('writes split records exactly as dmlc-core does, and reads them back', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'golden.rec');
  const recs = goldenRecords();
  const writer = await RecordWriter.create(file, { idxPath: false, bufferSize: 4096 });
  // Parts as packIR gives them (aligned head + rest) must not change the output.
  for (const r of recs) await writer.write(r.length > 8 ? [r.subarray(0, 8), r.subarray(8)] : r);
  await writer.close();
  assert.equal(writer.cuts, 470);
  assert.equal(createHash('sha256').update(await readFile(file)).digest('hex'), DMLC_SHA256);
  for (const chunk of [64, 1000, undefined]) {
    const back = await collect(file, chunk);
    assert.equal(back.length, recs.length);
    back.forEach((b, i) => assert.ok(b.record.equals(recs[i]!), `record ${i}, chunk ${chunk}`));
  }
});

test('a payload with the magic at an aligned offset is split into first/middle/last parts and joined back', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'split.rec');
  // Magic at offsets 4 and 12 (aligned: cut), and at 21 (unaligned: kept in the payload).
  const payload = Buffer.from([1, 2, 3, 4, ...MAGIC_BYTES, 5, 6, 7, 8, ...MAGIC_BYTES, 9, 0, 0, 0, 0, ...MAGIC_BYTES, 0xaa]);
  const writer = await RecordWriter.create(file);
  await writer.write(Buffer.from('before'), 7);
  await writer.write(payload, 3);
  await writer.write(Buffer.from('after!'), 9);
  await writer.close();
  const raw = await readFile(file);
  const expected = Buffer.concat([part(0, Buffer.from('before')), part(1, [1, 2, 3, 4]), part(2, [5, 6, 7, 8]),
    part(3, [9, 0, 0, 0, 0, ...MAGIC_BYTES, 0xaa]), part(0, Buffer.from('after!'))]);
  assert.ok(raw.equals(expected), 'parts with cflag 1, 2, 3');
  const records = await collect(file);
  assert.deepEqual(records.map((r) => r.offset), [0, 16, 60]);
  assert.ok(records[1]!.record.equals(payload));
  const reader = await IndexedRecordReader.open(file);
  assert.ok((await reader.read(3)).equals(payload));
  assert.equal((await reader.read(9)).toString(), 'after!');
  await reader.close();
});

test('stream errors name the file and the byte offset', async (t) => {
  const dir = await tempDir(t);
  const write = async (name: string, data: Buffer): Promise<string> => {
    const f = path.join(dir, name);
    await writeFile(f, data);
    return f;
  };
  const good = part(0, [1, 2, 3, 4, 5]); // 16 bytes
  const badMagic = await write('magic.rec', Buffer.concat([good, Buffer.from('not a record')]));
  await rejectsAt(() => collect(badMagic), badMagic, 16, /bad magic word 0x/);
  const cut = await write('cut.rec', Buffer.concat([good, part(0, Buffer.alloc(100))]).subarray(0, 70));
  await rejectsAt(() => collect(cut), cut, 16, /truncated record: it needs 108 bytes but the file ends 54 bytes after/);
  const shortHead = await write('head.rec', Buffer.concat([good, Buffer.from([0x0a, 0x23])]));
  await rejectsAt(() => collect(shortHead), shortHead, 16, /truncated/);
  const orphan = await write('orphan.rec', Buffer.concat([good, part(2, [1, 2, 3, 4]), part(3, [5])]));
  await rejectsAt(() => collect(orphan), orphan, 16, /middle part of a split record without its first part/);
  const lastOnly = await write('last.rec', part(3, [5]));
  await rejectsAt(() => collect(lastOnly), lastOnly, 0, /last part of a split record without its first part/);
  const noLast = await write('nolast.rec', Buffer.concat([good, part(1, [1, 2, 3, 4]), good]));
  await rejectsAt(() => collect(noLast), noLast, 16, /split record has no last part \(a new record starts at byte 28\)/);
  const unfinished = await write('unfinished.rec', Buffer.concat([good, part(1, [1, 2, 3, 4])]));
  await rejectsAt(() => collect(unfinished), unfinished, 16, /truncated/);
  const flag = Buffer.from(good);
  flag.writeUInt32LE(((5 << 29) | 5) >>> 0, 4);
  const badFlag = await write('flag.rec', flag);
  await rejectsAt(() => collect(badFlag), badFlag, 0, /bad continuation flag 5/);
});

test('.idx errors: bad offsets, duplicate keys, malformed lines, offsets inside records', async (t) => {
  const dir = await tempDir(t);
  const rec = path.join(dir, 'x.rec');
  // Records at 0 (16 bytes), 16 (split: parts at 16 and 28), 40.
  await writeFile(rec, Buffer.concat([part(0, [1, 2, 3, 4, 5]), part(1, [1, 2, 3, 4]), part(3, [5]), part(0, [7])]));
  const idx = path.join(dir, 'x.idx');
  const openWith = async (text: string): Promise<IndexedRecordReader> => {
    await writeFile(idx, text);
    return IndexedRecordReader.open(rec, idx);
  };
  await rejectsAt(() => openWith('0\t0\n1\t18\n'), idx, 4, /line 2: key 1 points at byte 18 .*not a multiple of 4/);
  await rejectsAt(() => openWith('0\t0\n1\t4000\n'), idx, 4, /line 2: key 1 points at byte 4000 .*the file has 52 bytes/);
  await rejectsAt(() => openWith('0\t0\n1\t16\n\n0\t40\n'), idx, 10, /key 0 appears twice \(entries 1 and 3, at bytes 0 and 40/);
  await rejectsAt(() => openWith('0\t0\nfive\t16\n'), idx, 4, /line 2: expected "key<TAB>offset"/);
  await rejectsAt(() => openWith('0\t0\t9\n'), idx, 0, /line 1: expected/);

  const inside = await openWith('0\t0\n1\t8\n2\t28\n3\t40\r\n');
  assert.deepEqual(inside.keys, [0, 1, 2, 3]);
  assert.equal((await inside.read(3))[0], 7, 'CRLF and unordered spans are fine');
  await rejectsAt(() => inside.read(1), rec, 8, /bad magic word .*key 1 of .*x\.idx/);
  await rejectsAt(() => inside.read(2), rec, 28, /last part of a split record without its first part.*\(key 2 of /);
  await rejectsAt(() => inside.read(5), idx, undefined, /no key 5 in the \.idx/);
  await inside.close();

  await writeFile(idx, '0\t40\n1\t16\n');
  const reader = await IndexedRecordReader.open(rec, idx);
  const [a, b] = await reader.readMany([1, 0]);
  assert.deepEqual([...a!], [1, 2, 3, 4, ...MAGIC_BYTES, 5]);
  assert.deepEqual([...b!], [7]);
  await reader.close();
});

test('wholeRecord takes only whole, unsplit records that were read completely; parseRecord decides the rest', () => {
  const buf = Buffer.concat([part(0, [1, 2, 3, 4, 5]), part(1, [1, 2, 3, 4]), part(3, [5]), part(0, [])]);
  assert.deepEqual([...wholeRecord(buf, 0, buf.length)!], [1, 2, 3, 4, 5]);
  assert.equal(wholeRecord(buf, 0, buf.length)!.buffer, buf.buffer, 'a view, not a copy');
  assert.equal(wholeRecord(buf, 0, 16)!.length, 5, 'the padding counts');
  assert.equal(wholeRecord(buf, 0, 15), undefined, 'cut short');
  assert.equal(wholeRecord(buf, 16, buf.length), undefined, 'first part of a split record');
  assert.equal(wholeRecord(buf, 28, buf.length), undefined, 'last part');
  assert.equal(wholeRecord(buf, 40, buf.length)!.length, 0);
  assert.equal(wholeRecord(buf, 40, 47), undefined, 'header cut short');
  assert.equal(wholeRecord(buf, 4, buf.length), undefined, 'no magic word');
});

test('RecordFile reads by offset exactly as IndexedRecordReader reads by key, errors included', async (t) => {
  const dir = await tempDir(t);
  const rec = path.join(dir, 'x.rec');
  await writeFile(rec, Buffer.concat([part(0, [1, 2, 3, 4, 5]), part(1, [1, 2, 3, 4]), part(3, [5]), part(0, [7])]));
  const idx = path.join(dir, 'x.idx');
  await writeFile(idx, '0\t0\n1\t8\n2\t28\n3\t40\n4\t16\n');
  const reader = await IndexedRecordReader.open(rec, idx);
  const src = await RecordFile.open(rec, idx);
  const keys = [0, 1, 2, 3, 4];
  const [offsets, ends] = [new Float64Array(5), new Float64Array(5)];
  reader.locate(keys, offsets, ends);
  assert.deepEqual([...offsets], [0, 8, 28, 40, 16]);
  assert.deepEqual([...ends], [8, 16, 40, 52, 28], 'the next indexed offset, or the file size');
  for (const [i, key] of keys.entries()) {
    const a = await reader.read(key).then((r) => r.toString('hex'), (e: Error) => e.message);
    const b = await src.readOne(key, offsets[i]!, ends[i]!).then((r) => r.toString('hex'), (e: Error) => e.message);
    assert.equal(b, a, `key ${key}`);
  }
  assert.throws(() => reader.locate([9], offsets, ends), /no key 9 in the \.idx/);
  await reader.close();
  await src.close();
});

test('irImageStart and irLabel read the header in place, as unpackIR does', () => {
  const image = Buffer.from([0xff, 0xd8, 9]);
  for (const label of [7, 0, 2 ** 24, [3, 0.5, 9], [1.5]] as const) {
    const record = Buffer.concat(packIR({ label, id: 5 }, image));
    const { header, image: back } = unpackIR(record);
    assert.equal(irImageStart(record), record.length - back.length);
    assert.equal(irLabel(record), firstLabel(header));
  }
  assert.equal(irImageStart(Buffer.alloc(23)), -1, 'shorter than a header');
  const lying = Buffer.concat(packIR({ label: [1, 2] }));
  lying.writeUInt32LE(1000, 0);
  assert.equal(irImageStart(lying), -1, 'labels past the end');
});

test('an indexed read of a record cut short by the end of the file says truncated', async (t) => {
  const dir = await tempDir(t);
  const rec = path.join(dir, 't.rec');
  await writeFile(rec, Buffer.concat([part(0, [1]), part(0, Buffer.alloc(64))]).subarray(0, 40));
  await writeFile(path.join(dir, 't.idx'), '0\t0\n1\t12\n');
  const reader = await IndexedRecordReader.open(rec);
  await rejectsAt(() => reader.read(1), rec, 12, /truncated record: it needs 72 bytes/);
  await reader.close();
});

test('the writer is atomic: nothing under the final names until close, nothing left after abort', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'a.rec');
  const w = await RecordWriter.create(file, { bufferSize: 64 });
  for (let k = 0; k < 50; k++) await w.write(Buffer.alloc(100, k), k);
  assert.deepEqual((await readdir(dir)).filter((f) => !f.includes('.tmp-')), []);
  await w.close();
  assert.deepEqual((await readdir(dir)).sort(), ['a.idx', 'a.rec']);
  const records = await collect(file);
  assert.equal(records.length, 50);
  assert.ok(records.every((r, k) => r.record.equals(Buffer.alloc(100, k))));

  const aborted = await RecordWriter.create(path.join(dir, 'b.rec'));
  await aborted.write(Buffer.from('x'), 0);
  await aborted.abort();
  assert.deepEqual((await readdir(dir)).sort(), ['a.idx', 'a.rec']);
});

test('the writer rejects duplicate and missing keys, and concurrent writes keep their order', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'k.rec');
  const w = await RecordWriter.create(file, { bufferSize: 32 });
  await w.write(Buffer.from('a'), 5);
  await assert.rejects(w.write(Buffer.from('b'), 5), /record 1: key 5 was already written/);
  await assert.rejects(w.write(Buffer.from('b')), /key undefined is not a non-negative integer/);
  await assert.rejects(w.write(Buffer.from('b'), 1.5), /key 1.5/);
  await Promise.all([1, 2, 3, 4, 5, 6].map((k) => w.write(Buffer.alloc(20 + k, k), 100 + k)));
  await w.close();
  const reader = await IndexedRecordReader.open(file);
  assert.deepEqual(reader.keys, [5, 101, 102, 103, 104, 105, 106]);
  for (let k = 1; k <= 6; k++) assert.ok((await reader.read(100 + k)).equals(Buffer.alloc(20 + k, k)));
  await reader.close();
});

test('IRHeader: pack/unpack round trip without copying the image; label arrays; class ids', () => {
  const image = Buffer.from([0xff, 0xd8, 1, 2, 3]);
  const parts = packIR({ label: 7, id: 42, id2: 2n ** 63n }, image);
  assert.equal(parts[1], image, 'the image is passed through');
  const record = Buffer.concat(parts);
  const { header, image: back } = unpackIR(record);
  assert.deepEqual({ ...header, labels: [...header.labels] }, { flag: 0, label: 7, labels: [], id: 42n, id2: 2n ** 63n });
  assert.ok(back.equals(image));
  assert.equal(back.buffer, record.buffer);
  assert.equal(classId(header), 7);

  const multi = unpackIR(Buffer.concat(packIR({ label: [3, 0.5, 9] }, image)));
  assert.equal(multi.header.flag, 3);
  assert.equal(multi.header.label, 0, 'MXNet stores 0 in the scalar label when flag > 0');
  assert.deepEqual([...multi.header.labels], [3, 0.5, 9]);
  assert.ok(multi.image.equals(image));
  assert.equal(classId(multi.header), 3);

  const where = { file: 'f.rec', offset: 128, key: 11 };
  assert.throws(() => classId(unpackIR(Buffer.concat(packIR({ label: 2.5 }))).header, where), /f\.rec at byte 128: record key 11: label 2\.5 is not a class id/);
  assert.throws(() => classId(unpackIR(Buffer.concat(packIR({ label: -1 }))).header, where), /label -1 is not a class id/);
  assert.throws(() => unpackIR(Buffer.alloc(10), where), /f\.rec at byte 128: record key 11 has 10 bytes, fewer than the 24-byte/);
  const lying = Buffer.concat(packIR({ label: [1, 2] }));
  lying.writeUInt32LE(1000, 0);
  assert.throws(() => unpackIR(lying, where), /header flag 1000 says 1000 labels follow, but the record has only 32 bytes/);
});
