// MXNet's image record header (`IRHeader`, struct `IfQQ`, little-endian) at the start of every
// record payload: u32 flag, f32 label, u64 id, u64 id2. When flag > 0, `flag` float32 labels follow
// the header and the scalar label is ignored; the image bytes come after.
import { FormatError } from './errors.js';

export const IR_HEADER_SIZE = 24;

export interface IRHeader {
  /** Number of float32 labels after the header; 0 means `label` is the label. */
  flag: number;
  /** The scalar label field (MXNet stores 0 here when `flag > 0`). */
  label: number;
  /** The `flag` labels that follow the header; empty when `flag` is 0. */
  labels: Float32Array;
  /** u64 ids as bigint: exact, and rarely needed (im2rec stores the record key in `id`). */
  id: bigint;
  id2: bigint;
}

/** Where a record came from, for error messages. */
export interface RecordRef {
  file?: string;
  offset?: number;
  key?: number;
}

export interface IRHeaderInit {
  /** A number (flag 0) or an array (flag = its length, as MXNet's `pack` does). */
  label: number | ArrayLike<number>;
  id?: number | bigint;
  id2?: number | bigint;
}

function named(ref: RecordRef): string {
  return ref.key !== undefined ? `record key ${ref.key}` : 'record';
}

/** Splits a record into its header and image; `image` is a view into `record` (no copy). */
export function unpackIR(record: Buffer, ref: RecordRef = {}): { header: IRHeader; image: Buffer } {
  if (record.length < IR_HEADER_SIZE) {
    throw new FormatError(
      `${named(ref)} has ${record.length} bytes, fewer than the ${IR_HEADER_SIZE}-byte image record header: not an image record file`,
      ref.file, ref.offset);
  }
  const flag = record.readUInt32LE(0);
  const start = IR_HEADER_SIZE + 4 * flag;
  if (start > record.length) {
    throw new FormatError(
      `${named(ref)}: header flag ${flag} says ${flag} labels follow, but the record has only ${record.length} bytes — the record is corrupt; rebuild the file`,
      ref.file, ref.offset);
  }
  // The labels are copied (a few floats): an aligned Float32Array view is not always possible.
  const labels = new Float32Array(flag);
  for (let i = 0; i < flag; i++) labels[i] = record.readFloatLE(IR_HEADER_SIZE + 4 * i);
  const header: IRHeader = {
    flag,
    label: record.readFloatLE(4),
    labels,
    id: record.readBigUInt64LE(8),
    id2: record.readBigUInt64LE(16),
  };
  return { header, image: record.subarray(start) };
}

/**
 * Where the image starts in `record` (after the header and its labels), or -1 when the header does
 * not fit (then `unpackIR` says why). With `irLabel`, the allocation-free path of bulk converters.
 */
export function irImageStart(record: Buffer): number {
  if (record.length < IR_HEADER_SIZE) return -1;
  const start = IR_HEADER_SIZE + 4 * record.readUInt32LE(0);
  return start <= record.length ? start : -1;
}

/** `firstLabel` of a record whose `irImageStart` is not -1, read in place. */
export function irLabel(record: Buffer): number {
  return record.readFloatLE(record.readUInt32LE(0) > 0 ? IR_HEADER_SIZE : 4);
}

/**
 * The record payload as [header (+ labels), image]: the image is not copied; the record writer
 * takes the parts as they are (the header is a multiple of 4 bytes, so magic-word alignment holds).
 */
export function packIR(init: IRHeaderInit, image: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  const labels = typeof init.label === 'number' ? [] : Array.from(init.label);
  const head = Buffer.alloc(IR_HEADER_SIZE + 4 * labels.length);
  head.writeUInt32LE(labels.length, 0);
  head.writeFloatLE(typeof init.label === 'number' ? init.label : 0, 4);
  head.writeBigUInt64LE(BigInt(init.id ?? 0), 8);
  head.writeBigUInt64LE(BigInt(init.id2 ?? 0), 16);
  labels.forEach((x, i) => head.writeFloatLE(x, IR_HEADER_SIZE + 4 * i));
  return image.length > 0 ? [head, image] : [head];
}

/** The first label as stored: `labels[0]` when flag > 0, else `label`. */
export function firstLabel(header: IRHeader): number {
  return header.flag > 0 ? header.labels[0]! : header.label;
}

/**
 * The class id of an image record. float32 holds integers exactly only up to 2^24, so a value
 * that is not a non-negative integer means a corrupt record or ids that were too large to store.
 */
export function classId(header: IRHeader, ref: RecordRef = {}): number {
  const value = firstLabel(header);
  if (!Number.isInteger(value) || value < 0) {
    throw new FormatError(
      `${named(ref)}: label ${value} is not a class id (a non-negative integer below 2^24, the float32 limit) — rebuild the dataset with integer class ids`,
      ref.file, ref.offset);
  }
  return value;
}

/** Whether `x` survives a float32 round trip, i.e. can be stored as a label without changing. */
export function exactInFloat32(x: number): boolean {
  return Math.fround(x) === x;
}
