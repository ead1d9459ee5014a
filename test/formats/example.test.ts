// tf.train.Example: decoding TensorFlow-written records, re-encoding them byte for byte, agreement
// with protobufjs reflection, the hand-written image fast path, and hostile bytes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Root, Writer } from 'protobufjs';
import { FormatError } from '../../src/formats/errors.js';
import { crc32c } from '../../src/formats/crc32c.js';
import { bytesFeature, decodeExample, decodeImageExample, encodeExample, encodeImageExample, floatFeature, ImageExampleEncoder, imageExampleParts, int64Feature, type Example, type FeatureInput } from '../../src/formats/example.js';
import { readTfRecords } from '../../src/formats/tfrecord.js';
import { sharedData } from '../helpers.js';

const tf = (name: string) => path.join(sharedData, 'tfrecord', name);
const FILES = ['tfrecord_lite/images.tfrecord', 'tfrecord_lite/test.tfrecord', 'pwnall/data.tfrecord', 'pwnall/singles.tfrecords'];

async function records(name: string): Promise<{ offset: number; data: Buffer }[]> {
  const out = [];
  for await (const r of readTfRecords(tf(name))) out.push(r);
  return out;
}

/** The reference: protobufjs reflection over the .proto definitions of tf.train.Example. */
const root = Root.fromJSON({
  nested: {
    Example: { fields: { features: { type: 'Features', id: 1 } } },
    Features: { fields: { feature: { keyType: 'string', type: 'Feature', id: 1 } } },
    Feature: {
      oneofs: { kind: { oneof: ['bytesList', 'floatList', 'int64List'] } },
      fields: { bytesList: { type: 'BytesList', id: 1 }, floatList: { type: 'FloatList', id: 2 }, int64List: { type: 'Int64List', id: 3 } },
    },
    BytesList: { fields: { value: { rule: 'repeated', type: 'bytes', id: 1 } } },
    FloatList: { fields: { value: { rule: 'repeated', type: 'float', id: 1, options: { packed: true } } } },
    Int64List: { fields: { value: { rule: 'repeated', type: 'int64', id: 1, options: { packed: true } } } },
  },
} as Parameters<typeof Root.fromJSON>[0]); // protobufjs's types miss `keyType` (map fields)
const ExampleType = root.lookupType('Example');

/** Encodes with reflection; protobufjs writes map entries in object key order, so insert sorted. */
function reference(features: [string, FeatureInput][]): Buffer {
  const feature: Record<string, unknown> = {};
  for (const [k, f] of [...features].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    const value = f.kind === 'int64' ? f.value.map(String) : [...(f.value ?? [])];
    feature[k] = f.kind === 'none' ? {} : { [`${f.kind}List`]: { value } };
  }
  return Buffer.from(ExampleType.encode(ExampleType.fromObject({ features: { feature } })).finish());
}

const plain = (ex: Example) => Object.fromEntries([...ex].map(([k, f]) => [k, { kind: f.kind, value: f.value.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v)) }]));

test('decodes the TensorFlow-written Examples', async () => {
  const [data] = await records('pwnall/data.tfrecord');
  const ex = decodeExample(data!.data);
  assert.deepEqual([...ex.keys()], ['answer', 'pi', 'name']);
  assert.deepEqual(ex.get('answer'), { kind: 'int64', value: [42n] });
  assert.deepEqual(ex.get('pi'), { kind: 'float', value: [Math.fround(3.14)] });
  assert.deepEqual(ex.get('name')?.value.map(String), ['ABC']);

  const singles = (await records('pwnall/singles.tfrecords')).map((r) => plain(decodeExample(r.data)));
  assert.deepEqual(singles, [
    { int_feature: { kind: 'int64', value: [42n] } },
    { float_feature: { kind: 'float', value: [Math.fround(3.14)] } },
    { byte_feature: { kind: 'bytes', value: [Buffer.from('@ABCD').toString('hex')] } },
  ]);

  const images = (await records('tfrecord_lite/images.tfrecord')).map((r) => decodeExample(r.data));
  const dims = images.map((e) => ['height', 'width', 'depth', 'label'].map((k) => e.get(k)?.value[0]));
  assert.deepEqual(dims, [[213n, 320n, 3n, 0n], [239n, 194n, 1n, 1n]]);
  for (const e of images) {
    const jpeg = e.get('image_raw')!.value[0] as Buffer;
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]); // JPEG start of image
    assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9]);
  }

  const lite = (await records('tfrecord_lite/test.tfrecord')).map((r) => decodeExample(r.data));
  assert.equal(lite.length, 42);
  for (const e of lite) {
    assert.deepEqual([...e.keys()].sort(), ['feature0', 'feature1', 'feature2', 'feature3']);
    assert.deepEqual(['feature0', 'feature1', 'feature2', 'feature3'].map((k) => e.get(k)!.kind), ['int64', 'int64', 'bytes', 'float']);
  }
  assert.deepEqual(lite[0]!.get('feature2')?.value.map(String), ['chicken']);
});

test('re-encoding TensorFlow records: identical in their order; TensorFlow does not sort keys', async () => {
  const sortedSame: Record<string, number> = {};
  for (const name of FILES) {
    sortedSame[name] = 0;
    for (const r of await records(name)) {
      const ex = decodeExample(r.data);
      assert.ok(encodeExample(ex, { keyOrder: 'given' }).equals(r.data), `${name} @${r.offset}`);
      const sorted = encodeExample(ex);
      assert.deepEqual(plain(decodeExample(sorted)), plain(ex));
      if (sorted.equals(r.data)) sortedSame[name]!++;
    }
  }
  // TensorFlow's writers emit the map in hash-table order, which differs between records with
  // the same keys: only the records that happen to be in sorted order come out identical.
  assert.deepEqual(sortedSame, { 'tfrecord_lite/images.tfrecord': 0, 'tfrecord_lite/test.tfrecord': 27, 'pwnall/data.tfrecord': 0, 'pwnall/singles.tfrecords': 3 });
});

const SAMPLE: [string, FeatureInput][] = [
  ['label', int64Feature(-1, 0, 1, 127, 128, 2 ** 53 - 1, -(2n ** 63n), 2n ** 63n - 1n)],
  ['floats', floatFeature(1.5, -0, 3.4e38, 1e-45, Math.PI)],
  ['image_raw', bytesFeature(Buffer.alloc(300, 7), '', 'é')],
  ['no_values', int64Feature()],
  ['no_floats', floatFeature()],
  ['no_bytes', bytesFeature()],
  ['unset', { kind: 'none' }],
  ['1', int64Feature(5)],
  ['__proto__', bytesFeature('x')],
];

test('agrees with protobufjs reflection, both ways', () => {
  // Reflection keeps maps in plain objects, where a '__proto__' key cannot live: leave it out there.
  const objectSafe = SAMPLE.filter(([k]) => k !== '__proto__');
  assert.ok(encodeExample(new Map(objectSafe)).equals(reference(objectSafe)));
  assert.ok(encodeExample(Object.fromEntries(objectSafe)).equals(reference(objectSafe)));
  const ours = encodeExample(new Map(SAMPLE));
  const back = decodeExample(ours);
  assert.deepEqual(back.get('label')?.value, [-1n, 0n, 1n, 127n, 128n, 2n ** 53n - 1n, -(2n ** 63n), 2n ** 63n - 1n]);
  assert.deepEqual(back.get('floats')?.value, [1.5, -0, Math.fround(3.4e38), Math.fround(1e-45), Math.fround(Math.PI)]);
  assert.deepEqual(back.get('unset'), { kind: 'none', value: [] });
  assert.deepEqual(back.get('__proto__')?.value.map(String), ['x']);
  assert.deepEqual(Object.getPrototypeOf(back), Map.prototype);
  const viaReflection = ExampleType.toObject(ExampleType.decode(ours), { longs: String }) as { features: { feature: Record<string, { int64List?: { value: string[] } }> } };
  assert.deepEqual(viaReflection.features.feature.label?.int64List?.value, ['-1', '0', '1', '127', '128', '9007199254740991', '-9223372036854775808', '9223372036854775807']);
  // A negative int64 is a 10-byte varint: Example > Features > entry{key 'n', Feature > Int64List}.
  assert.equal(encodeExample({ n: int64Feature(-1) }).toString('hex'), '0a15' + '0a13' + '0a016e' + '120e' + '1a0c' + '0a0a' + 'ffffffffffffffffff01');
});

test('keys are sorted by UTF-8 bytes whatever order they come in; given order is kept', () => {
  const keys = ['b', '😀', 'a', '\uffff', 'B', ''];
  const make = (ks: string[]) => new Map(ks.map((k) => [k, int64Feature(1)] as [string, FeatureInput]));
  const sorted = decodeExample(encodeExample(make(keys)));
  assert.deepEqual([...sorted.keys()], ['', 'B', 'a', 'b', '\uffff', '😀']); // U+FFFF < U+1F600 in UTF-8
  assert.ok(encodeExample(make(keys)).equals(encodeExample(make([...keys].reverse()))));
  assert.deepEqual([...decodeExample(encodeExample(make(keys), { keyOrder: 'given' })).keys()], keys);
});

test('the image fast path matches the generic encoder, reflection and TensorFlow byte for byte', async () => {
  const labels: (number | bigint)[] = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1, -(2 ** 53 - 1), -(2n ** 63n), 2n ** 63n - 1n, 85_741];
  const sizes = [0, 1, 100, 115, 116, 127, 128, 16_370, 16_384, 2_097_152];
  for (const n of sizes) {
    const image = Buffer.alloc(n, n & 0xff);
    for (const label of labels) {
      const features: [string, FeatureInput][] = [['label', int64Feature(label)], ['image_raw', bytesFeature(image)]];
      const fast = encodeImageExample(image, label);
      assert.ok(fast.equals(encodeExample(new Map(features))), `size ${n} label ${label}`);
      const parts = imageExampleParts(image, label);
      assert.equal(parts[1], image); // handed through, not copied
      assert.ok(Buffer.concat(parts).equals(fast));
      if (n < 20_000) assert.ok(fast.equals(reference(features)), `size ${n} label ${label}`);
    }
  }
  // Each map entry of the fast path appears verbatim in the TensorFlow-written record.
  const entry = (key: string, f: FeatureInput) => {
    const one = encodeExample({ [key]: f }); // tag, varint length, then the one entry
    let p = 1;
    while (one[p++]! & 0x80);
    return one.subarray(p);
  };
  for (const r of await records('tfrecord_lite/images.tfrecord')) {
    const ex = decodeExample(r.data);
    const image = ex.get('image_raw')!.value[0] as Buffer;
    const label = ex.get('label')!.value[0] as bigint;
    const fast = encodeImageExample(image, Number(label));
    const parts = [entry('image_raw', bytesFeature(image)), entry('label', int64Feature(label))];
    for (const p of parts) assert.ok(r.data.includes(p) && fast.includes(p));
    assert.ok(fast.subarray(fast.length - parts[0]!.length - parts[1]!.length).equals(Buffer.concat(parts)));
    assert.deepEqual(decodeImageExample(fast), { image, label: Number(label) });
  }
  assert.throws(() => encodeImageExample(Buffer.alloc(1), 0.5), RangeError);
  assert.throws(() => encodeImageExample(Buffer.alloc(1), 2 ** 53), /not a safe integer; pass a bigint/);
  assert.throws(() => encodeImageExample(Buffer.alloc(1), 2n ** 63n), /does not fit in an int64/);
});

test('the reusable encoder writes those bytes in place and returns their CRC', () => {
  const enc = new ImageExampleEncoder();
  const out = Buffer.alloc(2_100_000, 0xee);
  // One encoder for many records, as the convert workers use it: nothing may leak from one to the next.
  for (const n of [2_097_152, 0, 1, 127, 128, 16_384, 6000]) {
    for (const label of [0, 127, 128, 2 ** 32, 2 ** 53 - 1, -1, 2n ** 63n - 1n, 85_741]) {
      const image = Buffer.alloc(n, (n + 7) & 0xff);
      const want = encodeImageExample(image, label);
      const at = 5 + (n % 3);
      const crc = enc.set(image, label).encodeInto(out, at);
      assert.equal(enc.byteLength, want.length, `size ${n} label ${label}`);
      assert.ok(out.subarray(at, at + want.length).equals(want), `size ${n} label ${label}`);
      assert.equal(crc, crc32c(want), `size ${n} label ${label}`);
      assert.equal(out[at + want.length], 0xee, 'nothing written past byteLength');
      out.fill(0xee, at, at + want.length);
    }
  }
  assert.throws(() => enc.set(Buffer.alloc(1), 0.5), RangeError);
});

test('accepts unpacked lists, unknown fields, repeated keys and merged messages', () => {
  const w = Writer.create();
  w.uint32(10).fork(); // features
  w.uint32(10).fork().uint32(10).string('i').uint32(18).fork(); // entry 'i'
  w.uint32(26).fork().uint32(8).int64(-3).uint32(10).fork().int64(4).int64(5).ldelim().uint32(8).int64(6).ldelim();
  w.uint32(800).uint32(1); // unknown varint field 100 inside Feature
  w.ldelim().ldelim();
  w.uint32(10).fork().uint32(18).fork().uint32(18).fork().uint32(13).float(0.5).uint32(13).float(2).ldelim().ldelim().uint32(10).string('f').ldelim(); // value before key
  w.uint32(10).fork().uint32(10).string('d').uint32(18).fork().uint32(10).fork().uint32(10).string('old').ldelim().ldelim().ldelim();
  w.uint32(10).fork().uint32(10).string('d').uint32(18).fork().uint32(10).fork().uint32(10).string('new').ldelim().ldelim().ldelim();
  w.uint32(802).string('unknown bytes field in Features');
  w.ldelim();
  w.uint32(21).fixed32(7); // unknown fixed32 field 2 in Example
  w.uint32(10).fork().uint32(10).fork().uint32(10).string('later').uint32(18).fork().ldelim().ldelim().ldelim(); // second Features merges
  const ex = decodeExample(w.finish());
  assert.deepEqual(plain(ex), {
    i: { kind: 'int64', value: [-3n, 4n, 5n, 6n] },
    f: { kind: 'float', value: [0.5, 2] },
    d: { kind: 'bytes', value: [Buffer.from('new').toString('hex')] },
    later: { kind: 'none', value: [] },
  });
  assert.deepEqual(decodeExample(new Uint8Array(0)), new Map());
});

test('hostile bytes: every failure is a FormatError naming file and byte offset', () => {
  const good = encodeExample(new Map(SAMPLE));
  const at = { file: 'train.tfrecord', recordOffset: 1000 };
  for (let n = 1; n < good.length; n++) {
    assert.throws(() => decodeExample(good.subarray(0, n), at), (e: unknown) => e instanceof FormatError && e.file === 'train.tfrecord' && e.offset! >= 1012 && e.offset! <= 1012 + n && /not a valid tf\.train\.Example/.test(e.message), `prefix ${n}`);
  }
  // A nested length that runs past its parent, though not past the buffer.
  const lying = Buffer.concat([Buffer.from([0x0a, 0x03, 0x0a, 0x05]), Buffer.alloc(10)]);
  assert.throws(() => decodeExample(lying, at), /runs past its enclosing message/);
  // Random single-byte corruption: decodes to something or fails cleanly, never anything else.
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 3000; i++) {
    const bad = Buffer.from(good);
    bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
    try {
      decodeExample(bad, at);
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
    }
  }
});

test('decodeImageExample explains a record that is not a face image', async () => {
  const [r] = await records('pwnall/data.tfrecord');
  assert.throws(() => decodeImageExample(r!.data, { file: 'data.tfrecord', recordOffset: r!.offset }), (e: unknown) =>
    e instanceof FormatError && e.offset === 0 && /data\.tfrecord at byte 0: feature 'image_raw' is missing; expected an Example with features 'image_raw'/.test(e.message));
  const twoLabels = encodeExample({ image_raw: bytesFeature('x'), label: int64Feature(1, 2) });
  assert.throws(() => decodeImageExample(twoLabels), /feature 'label' is a int64 feature with 2 values/);
  assert.throws(() => decodeImageExample(encodeImageExample(Buffer.alloc(1), 2n ** 60n)), /too large for a class id/);
});
