// tf.train.Example, the record format of TFRecord datasets (tensorflow/core/example/*.proto):
//   Example{Features features=1}  Features{map<string,Feature> feature=1}
//   Feature{oneof kind {BytesList bytes_list=1; FloatList float_list=2; Int64List int64_list=3}}
//   BytesList{repeated bytes value=1}  FloatList{repeated float value=1 [packed]}
//   Int64List{repeated int64 value=1 [packed]}
// Encoded and decoded with protobufjs's Reader/Writer, walking this small schema by hand: that
// keeps the map in file order (a plain object would reorder integer-like keys and mishandle
// "__proto__"), gives int64 as bigint, and lets errors name the byte offset.
import { createRequire } from 'node:module';
import type { Long, Reader, Writer } from 'protobufjs/minimal.js';
import { crc32c, crc32cShort } from './crc32c.js';
import { FormatError } from './errors.js';
import { TFRECORD_HEADER_BYTES, type RecordEncoder } from './tfrecord.js';

type Protobuf = typeof import('protobufjs/minimal.js');
// Loaded on first use: conversion workers need only the hand-written image encoder below, and
// protobufjs's CommonJS modules add start-up and compile time to every worker thread.
let pb: Protobuf | undefined;
const protobuf = (): Protobuf => (pb ??= createRequire(import.meta.url)('protobufjs/minimal.js') as Protobuf);

export type Feature =
  | { kind: 'bytes'; value: Buffer[] }
  | { kind: 'float'; value: number[] }
  | { kind: 'int64'; value: bigint[] }
  /** A Feature with no list set: valid protobuf, and TensorFlow reads it as an empty list. */
  | { kind: 'none'; value: [] };

/** What `encodeExample` takes: like `Feature`, but int64 values may be numbers (safe integers). */
export type FeatureInput =
  | { kind: 'bytes'; value: readonly Uint8Array[] }
  | { kind: 'float'; value: readonly number[] | Float32Array }
  | { kind: 'int64'; value: readonly (bigint | number)[] }
  | { kind: 'none'; value?: readonly [] };

/** A decoded tf.train.Example: its features in the order the record lists them. */
export type Example = Map<string, Feature>;

export const bytesFeature = (...value: (Uint8Array | string)[]): FeatureInput => ({ kind: 'bytes', value: value.map((v) => (typeof v === 'string' ? Buffer.from(v) : v)) });
export const floatFeature = (...value: number[]): FeatureInput => ({ kind: 'float', value });
export const int64Feature = (...value: (bigint | number)[]): FeatureInput => ({ kind: 'int64', value });

export interface EncodeExampleOptions {
  /**
   * Order of the map entries: 'sorted' (default; by UTF-8 bytes, as protobuf's deterministic
   * serialization does) makes output reproducible; 'given' keeps the caller's order (to
   * reproduce a file whose writer used some other order: TensorFlow's Python writer uses hash
   * order).
   */
  keyOrder?: 'sorted' | 'given';
}

/** Serializes an Example. */
export function encodeExample(features: ReadonlyMap<string, FeatureInput> | Readonly<Record<string, FeatureInput>>, opts: EncodeExampleOptions = {}): Buffer {
  const entries = [...(features instanceof Map ? features.entries() : Object.entries(features))] as [string, FeatureInput][];
  if ((opts.keyOrder ?? 'sorted') === 'sorted') entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const w = protobuf().Writer.create();
  w.uint32(10).fork(); // Example.features
  for (const [key, feature] of entries) {
    w.uint32(10).fork(); // one map entry: key=1, value=2
    w.uint32(10).string(key);
    w.uint32(18).fork();
    writeFeature(w, key, feature);
    w.ldelim().ldelim();
  }
  return w.ldelim().finish() as Buffer;
}

function writeFeature(w: Writer, key: string, f: FeatureInput): void {
  switch (f.kind) {
    case 'bytes':
      w.uint32(10).fork();
      for (const v of f.value) w.uint32(10).bytes(v);
      w.ldelim();
      return;
    case 'float':
      w.uint32(18).fork();
      if (f.value.length > 0) w.uint32(10).uint32(4 * f.value.length);
      for (const v of f.value) w.float(v);
      w.ldelim();
      return;
    case 'int64':
      w.uint32(26).fork();
      if (f.value.length > 0) {
        w.uint32(10).fork();
        for (const v of f.value) w.int64(longBits(v, key) as Long);
        w.ldelim();
      }
      w.ldelim();
      return;
    case 'none':
      return;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Two's-complement halves, the form protobufjs's Writer takes 64-bit values in. */
function longBits(v: bigint | number, key: string): { low: number; high: number } {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`feature '${key}': int64 value ${v} is not a safe integer; pass a bigint`);
    v = BigInt(v);
  }
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`feature '${key}': ${v} does not fit in an int64`);
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn), high: Number(u >> 32n) };
}

/** Where a record came from, for error messages: `recordOffset` as `readTfRecords` yields it. */
export interface RecordSource {
  file?: string;
  recordOffset?: number;
}

/**
 * Parses an Example. Unknown fields are skipped and packed or unpacked lists both accepted. Bytes
 * values are views into `data`, not copies.
 */
export function decodeExample(data: Uint8Array, at: RecordSource = {}): Example {
  const r = protobuf().Reader.create(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const example: Example = new Map();
  try {
    while (r.pos < r.len) {
      const tag = readTag(r);
      if (tag === 10) readFeatures(r, example);
      else r.skipType(tag & 7);
    }
  } catch (e) {
    const where = at.recordOffset === undefined ? undefined : at.recordOffset + TFRECORD_HEADER_BYTES + r.pos;
    const why = e instanceof Error ? e.message : String(e);
    throw new FormatError(`not a valid tf.train.Example (${why}); the record is corrupt or holds something else`, at.file, where);
  }
  return example;
}

function readTag(r: Reader): number {
  const tag = r.uint32();
  if (tag >>> 3 === 0) throw new Error(`field number 0 at message byte ${r.pos - 1}`);
  return tag;
}

/** Reads a length prefix and returns where that field ends; it must end inside its parent. */
function fieldEnd(r: Reader, parentEnd: number): number {
  const start = r.pos;
  const end = r.uint32() + r.pos;
  if (end > parentEnd) throw new Error(`a field at message byte ${start} runs past its enclosing message (${end} > ${parentEnd})`);
  return end;
}

function expectEnd(r: Reader, end: number): void {
  if (r.pos !== end) throw new Error(`a field ends at message byte ${r.pos}, not at its declared end ${end}`);
}

function readFeatures(r: Reader, into: Example): void {
  const end = fieldEnd(r, r.len);
  while (r.pos < end) {
    const tag = readTag(r);
    if (tag !== 10) {
      r.skipType(tag & 7);
      continue;
    }
    const entryEnd = fieldEnd(r, end);
    let key = '';
    let feature: Feature = { kind: 'none', value: [] };
    while (r.pos < entryEnd) {
      const t = readTag(r);
      if (t === 10) key = r.string();
      else if (t === 18) feature = readFeature(r, fieldEnd(r, entryEnd), feature);
      else r.skipType(t & 7);
    }
    expectEnd(r, entryEnd);
    into.set(key, feature); // a repeated key: the last one wins, as in protobuf
  }
  expectEnd(r, end);
}

/** Reads a Feature; a second occurrence of the same list merges into `acc`, as protobuf merges. */
function readFeature(r: Reader, end: number, acc: Feature): Feature {
  while (r.pos < end) {
    const tag = readTag(r);
    const field = tag >>> 3;
    if (field < 1 || field > 3 || (tag & 7) !== 2) {
      r.skipType(tag & 7);
      continue;
    }
    const kind = (['bytes', 'float', 'int64'] as const)[field - 1]!;
    if (acc.kind !== kind) acc = { kind, value: [] } as Feature;
    readList(r, fieldEnd(r, end), acc);
  }
  expectEnd(r, end);
  return acc;
}

function readList(r: Reader, end: number, f: Feature): void {
  while (r.pos < end) {
    const tag = readTag(r);
    if (tag >>> 3 !== 1) r.skipType(tag & 7);
    else if (f.kind === 'bytes' && tag === 10) f.value.push(r.bytes() as Buffer);
    else if (f.kind === 'float' && tag === 10) r.floats(f.value);
    else if (f.kind === 'float' && tag === 13) f.value.push(r.float());
    else if (f.kind === 'int64' && tag === 10) readPackedInt64(r, fieldEnd(r, end), f.value);
    else if (f.kind === 'int64' && tag === 8) f.value.push(toBigInt(r.int64()));
    else throw new Error(`${f.kind} list value with wire type ${tag & 7}`);
  }
  expectEnd(r, end);
}

function readPackedInt64(r: Reader, end: number, into: bigint[]): void {
  while (r.pos < end) into.push(toBigInt(r.int64()));
  expectEnd(r, end);
}

function toBigInt(l: Long): bigint {
  if (l.high === 0 && l.low >= 0) return BigInt(l.low);
  return BigInt.asIntN(64, (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0));
}

// The dataset hot path: one Example {image_raw: bytes, label: int64} per face image, millions of
// times. Written by hand because it is ~4-5× faster than the Writer path above (which forks per
// nested message; measured in bench/tfrecord.ts), and because it can leave the image where it is;
// tests check it byte for byte against encodeExample, protobufjs reflection and TensorFlow.
const IMAGE_KEY = Buffer.from('image_raw');
const LABEL_KEY = Buffer.from('label');

/**
 * Encodes image Examples straight into a buffer (a TfRecordWriter's): `set` the image and label,
 * then hand the encoder to `TfRecordWriter.write`. One encoder serves a whole shard, so the hot
 * path allocates nothing per record and copies each image once.
 */
export class ImageExampleEncoder implements RecordEncoder {
  byteLength = 0;
  /** Bytes before the image. */
  headLength = 0;
  private image: Uint8Array = new Uint8Array(0);
  private lo = 0;
  private hi = 0;
  private v = 1; // the label's varint size
  private bl = 0; // BytesList length
  private fi = 0; // image Feature length
  private ei = 0; // image map entry length
  private el = 0; // label map entry length
  private features = 0;

  /** The next record's image (not copied until encoded) and label. */
  set(image: Uint8Array, label: number | bigint): this {
    if (typeof label === 'number' && label >= 0 && Number.isSafeInteger(label)) {
      this.lo = label % 2 ** 32;
      this.hi = Math.floor(label / 2 ** 32);
    } else {
      ({ low: this.lo, high: this.hi } = longBits(label, 'label'));
    }
    this.image = image;
    const v = (this.v = varint64Size(this.lo, this.hi));
    this.el = 13 + v; // key field (2 + 5 bytes), value tag, length, Feature (4 + v, see putTail)
    const n = image.length;
    this.bl = 1 + varintSize(n) + n;
    this.fi = 1 + varintSize(this.bl) + this.bl;
    this.ei = 12 + varintSize(this.fi) + this.fi; // key field (2 + 9 bytes), value tag, length, Feature
    this.features = 1 + varintSize(this.ei) + this.ei + 2 + this.el;
    this.headLength = 2 + varintSize(this.features) + varintSize(this.ei) + 12 + varintSize(this.fi) + 2 + varintSize(this.bl) + varintSize(n);
    this.byteLength = this.headLength + n + 2 + this.el;
    return this;
  }

  /** Writes the Example at `b[at]`; returns its CRC32C (see RecordEncoder). */
  encodeInto(b: Buffer, at: number): number {
    const p = this.putHead(b, at);
    b.set(this.image, p);
    const q = p + this.image.length;
    return crc32cShort(b, q, this.putTail(b, q), crc32c(this.image, crc32cShort(b, at, p)));
  }

  /** Writes the bytes before the image at `b[p]`; returns the end. */
  putHead(b: Buffer, p: number): number {
    b[p++] = 0x0a;
    p = putVarint(b, p, this.features);
    b[p++] = 0x0a;
    p = putVarint(b, p, this.ei);
    b[p++] = 0x0a;
    b[p++] = IMAGE_KEY.length;
    p += IMAGE_KEY.copy(b, p);
    b[p++] = 0x12;
    p = putVarint(b, p, this.fi);
    b[p++] = 0x0a;
    p = putVarint(b, p, this.bl);
    b[p++] = 0x0a;
    return putVarint(b, p, this.image.length);
  }

  /** Writes the bytes after the image (the label entry) at `b[p]`; returns the end. */
  putTail(b: Buffer, p: number): number {
    b[p++] = 0x0a;
    b[p++] = this.el;
    b[p++] = 0x0a;
    b[p++] = LABEL_KEY.length;
    p += LABEL_KEY.copy(b, p);
    b[p++] = 0x12;
    b[p++] = 4 + this.v; // Feature: int64_list tag, length, Int64List
    b[p++] = 0x1a;
    b[p++] = 2 + this.v; // Int64List: packed values tag, length, the varint
    b[p++] = 0x0a;
    b[p++] = this.v;
    return putVarint64(b, p, this.lo, this.hi);
  }
}

/**
 * The image Example as [head, image, tail]: together, the bytes of `encodeImageExample`. Hand
 * them to `TfRecordWriter.write` as they are and the image is copied once, into its buffer.
 */
export function imageExampleParts(image: Uint8Array, label: number | bigint): [Buffer, Uint8Array, Buffer] {
  const e = new ImageExampleEncoder().set(image, label);
  const head = Buffer.allocUnsafe(e.headLength);
  e.putHead(head, 0);
  const tail = Buffer.allocUnsafe(e.byteLength - e.headLength - image.length);
  e.putTail(tail, 0);
  return [head, image, tail];
}

/** `encodeExample({image_raw: bytes(image), label: int64(label)})`: the same bytes, faster. */
export function encodeImageExample(image: Uint8Array, label: number | bigint): Buffer {
  return Buffer.concat(imageExampleParts(image, label));
}

function varintSize(n: number): number {
  let size = 1;
  for (; n >= 128; size++) n = Math.floor(n / 128);
  return size;
}

function putVarint(b: Buffer, p: number, n: number): number {
  for (; n >= 128; n = Math.floor(n / 128)) b[p++] = (n % 128) | 128;
  b[p++] = n;
  return p;
}

/** Size of the varint of the 64-bit value `hi·2^32 + lo` (negative int64s take 10 bytes). */
function varint64Size(lo: number, hi: number): number {
  let size = 1;
  for (; hi > 0 || lo > 127; size++) [lo, hi] = [((lo >>> 7) | (hi << 25)) >>> 0, hi >>> 7];
  return size;
}

function putVarint64(b: Buffer, p: number, lo: number, hi: number): number {
  for (; hi > 0 || lo > 127; [lo, hi] = [((lo >>> 7) | (hi << 25)) >>> 0, hi >>> 7]) b[p++] = (lo & 127) | 128;
  b[p++] = lo;
  return p;
}

export interface ImageExample {
  /** The JPEG bytes: a view into the record, no copy. */
  image: Buffer;
  label: number;
}

/** Decodes an Example as facepipe's datasets hold them: `image_raw` (one bytes) and `label` (one int64). */
export function decodeImageExample(data: Uint8Array, at: RecordSource = {}): ImageExample {
  const ex = decodeExample(data, at);
  const image = ex.get('image_raw');
  const label = ex.get('label');
  const bad = (what: string) => new FormatError(`${what}; expected an Example with features 'image_raw' (one bytes value) and 'label' (one int64 value), as facepipe's convert stage writes`, at.file, at.recordOffset);
  if (image?.kind !== 'bytes' || image.value.length !== 1) throw bad(`feature 'image_raw' is ${describe(image)}`);
  if (label?.kind !== 'int64' || label.value.length !== 1) throw bad(`feature 'label' is ${describe(label)}`);
  const l = label.value[0]!;
  if (l > BigInt(Number.MAX_SAFE_INTEGER) || l < BigInt(Number.MIN_SAFE_INTEGER)) throw bad(`label ${l} is too large for a class id`);
  return { image: image.value[0]!, label: Number(l) };
}

function describe(f: Feature | undefined): string {
  return f === undefined ? 'missing' : `a ${f.kind} feature with ${f.value.length} values`;
}
