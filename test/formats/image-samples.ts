// Real JPEGs from ../shared/data and small hand-built PNGs, shared by the image tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { crc32 } from '@node-rs/crc32';
import { sharedData } from '../helpers.js';

export interface Sample { name: string; bytes: Buffer }

/** JPEG payloads of an MXNet .rec whose records are all whole (cflag 0) with a 24-byte IRHeader. */
function recJpegs(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length;) {
    if (buf.readUInt32LE(p) !== 0xced7230a) throw new Error(`test data: no RecordIO magic at ${p}`);
    const lrec = buf.readUInt32LE(p + 4);
    const len = lrec & 0x1fffffff;
    if (lrec >>> 29 !== 0) throw new Error('test data: split record');
    const payload = buf.subarray(p + 8, p + 8 + len);
    out.push(payload.subarray(24 + 4 * payload.readUInt32LE(0)));
    p += 8 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

/** FF D8 FF … FF D9 spans: enough for these files, whose JPEGs hold no embedded thumbnails. */
function jpegSpans(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let s = buf.indexOf('ffd8ff', 0, 'hex'); s >= 0; s = buf.indexOf('ffd8ff', s + 2, 'hex')) {
    const e = buf.indexOf('ffd9', s, 'hex');
    out.push(buf.subarray(s, e + 2));
    s = e;
  }
  return out;
}

/** The 8 rec, 2 TFRecord and 20 small_lfw.bin JPEGs. */
export async function realJpegs(): Promise<Sample[]> {
  const read = (rel: string) => readFile(path.join(sharedData, rel));
  const named = (prefix: string, list: Buffer[]) => list.map((bytes, i) => ({ name: `${prefix}#${i}`, bytes }));
  return [
    ...named('data_train.rec', recJpegs(await read('rec/adaface_popkorn/data_train.rec'))),
    ...named('images.tfrecord', jpegSpans(await read('tfrecord/tfrecord_lite/images.tfrecord'))),
    ...named('small_lfw.bin', jpegSpans(await read('bin/small_lfw.bin'))),
  ];
}

export const orlFace = (person: number, shot: number): Promise<Buffer> => readFile(path.join(sharedData, 'faces', 'att_faces', `s${person}`, `${shot}.pgm`));

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A non-interlaced PNG of `rows` (already in the colour type's sample layout, big-endian for 16 bit). */
export function makePng(width: number, height: number, colourType: number, bitDepth: number, rows: Buffer, extra: Buffer[] = []): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colourType, 0, 0, 0], 8);
  const stride = rows.length / height;
  const filtered = Buffer.concat(Array.from({ length: height }, (_, y) => Buffer.concat([Buffer.from([0]), rows.subarray(y * stride, (y + 1) * stride)])));
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), ...extra, chunk('IDAT', deflateSync(filtered)), chunk('IEND', Buffer.alloc(0))]);
}

export { chunk as pngChunk };

/** Largest absolute difference between two byte arrays of equal length. */
export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}
