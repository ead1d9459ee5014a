// Our TFRecord writer read back by an independent reader: a short Python script that parses the
// framing itself, checks both masked CRC32Cs with google_crc32c and decodes every record as a
// tf.train.Example with protobuf (its descriptors built in the script: TensorFlow is not needed).
// Uses the reference Python of `facepipe setup --python` (npm test makes it) or FACEPIPE_PYTHON.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { findPythonRef } from '../../src/backend/python.js';
import { bytesFeature, encodeExample, encodeImageExample, floatFeature, imageExampleParts, int64Feature, type FeatureInput } from '../../src/formats/example.js';
import { encodeJpeg } from '../../src/formats/image.js';
import { TfRecordShardWriter } from '../../src/formats/tfrecord-shards.js';
import { readTfRecords, TfRecordWriter, type RecordData } from '../../src/formats/tfrecord.js';
import { tempDir } from '../helpers.js';

const python = findPythonRef();
const skip = python ? false : 'no reference Python with protobuf and google-crc32c: run `node bin/facepipe.js setup --python` (npm test does), or set FACEPIPE_PYTHON';

const SCRIPT = String.raw`
import hashlib, json, struct, sys
import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

def example_class():
    # tensorflow/core/example/{example,feature}.proto, restated as descriptors.
    f = descriptor_pb2.FileDescriptorProto(name="facepipe_check_example.proto", package="tensorflow", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    rep, opt = T.LABEL_REPEATED, T.LABEL_OPTIONAL
    def message(name, fields, oneof=None):
        m = f.message_type.add(name=name)
        if oneof: m.oneof_decl.add(name=oneof)
        for number, fname, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name: fd.type_name = type_name
            if oneof: fd.oneof_index = 0
        return m
    message("BytesList", [(1, "value", T.TYPE_BYTES, rep, None)])
    message("FloatList", [(1, "value", T.TYPE_FLOAT, rep, None)])
    message("Int64List", [(1, "value", T.TYPE_INT64, rep, None)])
    message("Feature", [(1, "bytes_list", T.TYPE_MESSAGE, opt, ".tensorflow.BytesList"),
                        (2, "float_list", T.TYPE_MESSAGE, opt, ".tensorflow.FloatList"),
                        (3, "int64_list", T.TYPE_MESSAGE, opt, ".tensorflow.Int64List")], oneof="kind")
    entry = message("Features", [(1, "feature", T.TYPE_MESSAGE, rep, ".tensorflow.Features.FeatureEntry")]).nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=T.TYPE_MESSAGE, label=opt, type_name=".tensorflow.Feature")
    message("Example", [(1, "features", T.TYPE_MESSAGE, opt, ".tensorflow.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))

Example = example_class()

def masked_crc(data):
    c = google_crc32c.value(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def describe(feature):
    kind = feature.WhichOneof("kind")
    if kind is None: return {"kind": "none"}
    values = getattr(feature, kind).value
    if kind == "bytes_list":
        return {"kind": "bytes", "value": [v.hex() if len(v) <= 64 else "len=%d sha256=%s" % (len(v), hashlib.sha256(v).hexdigest()) for v in values]}
    if kind == "float_list":  # float32 bit patterns: exact, also for -0, inf and NaN
        return {"kind": "float", "bits": [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]}
    return {"kind": "int64", "value": [str(v) for v in values]}  # strings: JSON numbers lose 2^62

def read_file(name):
    buf = open(name, "rb").read()
    records, p = [], 0
    while p < len(buf):
        fail = lambda what: {"records": records, "error": {"record": len(records), "offset": p, "what": what}}
        if len(buf) - p < 16: return fail("truncated")
        length, = struct.unpack_from("<Q", buf, p)
        if struct.unpack_from("<I", buf, p + 8)[0] != masked_crc(buf[p:p + 8]): return fail("length crc")
        if p + 16 + length > len(buf): return fail("truncated")
        data = buf[p + 12:p + 12 + length]
        if struct.unpack_from("<I", buf, p + 12 + length)[0] != masked_crc(data): return fail("data crc")
        ex = Example.FromString(data)
        features = sorted([k, describe(ex.features.feature[k])] for k in ex.features.feature)
        # canonical: protobuf's own deterministic serialization gives the very same bytes
        records.append({"offset": p, "length": length, "canonical": ex.SerializeToString(deterministic=True) == data, "features": features})
        p += 16 + length
    return {"records": records}

print(json.dumps({"crc32c": google_crc32c.implementation, "files": [read_file(n) for n in sys.argv[1:]]}))
`;

type Described = { kind: 'none' } | { kind: 'bytes'; value: string[] } | { kind: 'float'; bits: number[] } | { kind: 'int64'; value: string[] };
interface PyRecord { offset: number; length: number; canonical: boolean; features: [string, Described][] }
interface PyFile { records: PyRecord[]; error?: { record: number; offset: number; what: string } }

async function readWithPython(t: TestContext, files: string[]): Promise<PyFile[]> {
  const script = path.join(await tempDir(t), 'read_tfrecords.py');
  await fs.writeFile(script, SCRIPT);
  const r = spawnSync(python!, [script, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { crc32c: string; files: PyFile[] };
  t.diagnostic(`google_crc32c implementation: ${out.crc32c}`);
  return out.files;
}

/** What the script prints for a feature we wrote. */
function describe(f: FeatureInput): Described {
  switch (f.kind) {
    case 'none':
      return { kind: 'none' };
    case 'bytes':
      return { kind: 'bytes', value: f.value.map((v) => (v.length <= 64 ? Buffer.from(v).toString('hex') : `len=${v.length} sha256=${createHash('sha256').update(v).digest('hex')}`)) };
    case 'float':
      return { kind: 'float', bits: [...new Uint32Array(Float32Array.from(f.value).buffer)] };
    case 'int64':
      return { kind: 'int64', value: f.value.map((v) => BigInt(v).toString()) };
  }
}

const described = (features: Record<string, FeatureInput>): [string, Described][] =>
  Object.entries(features).map(([k, f]): [string, Described] => [k, describe(f)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

interface Written { features: Record<string, FeatureInput>; canonical: boolean }

const imageFeatures = (image: Uint8Array, label: number | bigint): Record<string, FeatureInput> => ({ image_raw: bytesFeature(image), label: int64Feature(label) });

async function faceJpeg(shade: number): Promise<Buffer> {
  const px = new Uint8Array(112 * 112 * 3).map((_, i) => (shade + (i % 336) + Math.floor(i / 336)) % 256);
  return encodeJpeg(px, 112, 112, 3);
}

const LABELS: (number | bigint)[] = [0, 1, 127, 128, 2 ** 31, Number.MAX_SAFE_INTEGER, -1, -(2n ** 63n), 2n ** 62n, 2n ** 63n - 1n];

/** Every kind of feature and the edge values each can hold. */
const MIXED: Record<string, FeatureInput> = {
  bytes: bytesFeature(Buffer.alloc(0), 'héllo', Buffer.from([0, 255, 10, 13]), randomBytes(200)),
  floats: floatFeature(0, -0, 1.5, -2.25, 0.1, 3.4028234663852886e38, 1e-45, Infinity, -Infinity, NaN),
  int64s: int64Feature(0, 1, -1, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n, Number.MAX_SAFE_INTEGER, -123456789012),
  empty_floats: floatFeature(),
  empty_int64s: int64Feature(),
  empty_bytes: bytesFeature(),
  unset: { kind: 'none' },
  'ünïcödé ключ': int64Feature(7),
  '10': floatFeature(10),
  '9': floatFeature(9),
};

test('an independent Python reader (google_crc32c + protobuf) reads our files as we wrote them', { skip, timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const jpegs = await Promise.all([0, 90, 180].map(faceJpeg));
  const big = randomBytes(100_000); // larger than the writer's buffer: the separate-buffer path
  const single: Written[] = [];
  // A small buffer so records straddle flushes; the fast path is handed its parts, unjoined.
  const w = await TfRecordWriter.create(path.join(dir, 'single.tfrecord'), { bufferSize: 8192 });
  const put = async (data: RecordData, features: Record<string, FeatureInput>, canonical = true) => {
    await w.write(data);
    single.push({ features, canonical });
  };
  for (const [i, label] of LABELS.entries()) await put(encodeImageExample(jpegs[i % 3]!, label), imageFeatures(jpegs[i % 3]!, label));
  await put(imageExampleParts(big, 2n ** 62n), imageFeatures(big, 2n ** 62n));
  await put(encodeExample(MIXED), MIXED);
  // The caller's key order is kept: valid, but not what protobuf's deterministic mode writes.
  await put(encodeExample({ label: int64Feature(3), image_raw: bytesFeature('x') }, { keyOrder: 'given' }), { label: int64Feature(3), image_raw: bytesFeature('x') }, false);
  await put(encodeExample({}), {});
  await w.close();

  const shardWriter = await TfRecordShardWriter.create(path.join(dir, 'train'), 3);
  const shards: Written[][] = [[], [], []];
  for (let i = 0; i < 10; i++) {
    await shardWriter.write(encodeImageExample(jpegs[i % 3]!, i));
    shards[i % 3]!.push({ features: imageFeatures(jpegs[i % 3]!, i), canonical: true });
  }
  const files = [path.join(dir, 'single.tfrecord'), ...(await shardWriter.close()).shards.map((s) => s.file)];

  const py = await readWithPython(t, files);
  for (const [f, written] of [single, ...shards].entries()) {
    const name = path.basename(files[f]!);
    assert.equal(py[f]!.error, undefined, `${name}: ${JSON.stringify(py[f]!.error)}`);
    const ours = [];
    for await (const r of readTfRecords(files[f]!)) ours.push({ offset: r.offset, length: r.data.length });
    assert.deepEqual(py[f]!.records.map((r) => ({ offset: r.offset, length: r.length })), ours, `${name}: record framing`);
    assert.equal(py[f]!.records.length, written.length, name);
    py[f]!.records.forEach((r, i) => {
      assert.deepEqual(r.features, described(written[i]!.features), `${name} record ${i}`);
      assert.equal(r.canonical, written[i]!.canonical, `${name} record ${i}: same bytes as protobuf's deterministic serialization`);
    });
  }
  const labels = py[0]!.records.slice(0, LABELS.length).map((r) => (r.features[1]![1] as { value: string[] }).value[0]);
  assert.deepEqual(labels, ['0', '1', '127', '128', '2147483648', '9007199254740991', '-1', '-9223372036854775808', '4611686018427387904', '9223372036854775807']);
});

test('the independent reader and ours both catch a flipped byte and a cut-off file', { skip, timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const clean = path.join(dir, 'clean.tfrecord');
  const w = await TfRecordWriter.create(clean);
  const jpeg = await faceJpeg(40);
  for (let i = 0; i < 3; i++) await w.write(encodeImageExample(jpeg, i));
  await w.close();
  const bytes = await fs.readFile(clean);
  const record = 16 + encodeImageExample(jpeg, 0).length; // all three have the same size
  const cases = [
    { name: 'a byte of record 1\'s JPEG', at: record + 12 + 500, expect: { record: 1, what: 'data crc' } },
    { name: 'a byte of record 2\'s length', at: 2 * record + 1, expect: { record: 2, what: 'length crc' } },
    { name: 'a byte of record 0\'s stored data CRC', at: record - 2, expect: { record: 0, what: 'data crc' } },
    { name: 'the last 3 bytes cut off', cut: 3, expect: { record: 2, what: 'truncated' } },
  ];
  const files: string[] = [];
  for (const [i, c] of cases.entries()) {
    const b = Buffer.from(bytes.subarray(0, bytes.length - (c.cut ?? 0)));
    if (c.at !== undefined) b[c.at]! ^= 0x20;
    files.push(path.join(dir, `bad-${i}.tfrecord`));
    await fs.writeFile(files.at(-1)!, b);
  }
  const py = await readWithPython(t, [clean, ...files]);
  assert.equal(py[0]!.error, undefined);
  assert.equal(py[0]!.records.length, 3);
  for (const [i, c] of cases.entries()) {
    const got = py[i + 1]!;
    assert.deepEqual({ record: got.error?.record, what: got.error?.what }, c.expect, `python, ${c.name}`);
    assert.equal(got.error!.offset, c.expect.record * record, `python, ${c.name}: offset`);
    assert.equal(got.records.length, c.expect.record, `python, ${c.name}: records before it`);
    await assert.rejects(async () => {
      for await (const _ of readTfRecords(files[i]!)) { /* read to the end */ }
    }, new RegExp(`record ${c.expect.record}`), `ours, ${c.name}`);
  }
});
