// insightface verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin, …): a pickle of
// `(bins, issame_list)` with 2P encoded images (pair i = images 2i and 2i+1) and P bools.
// Images come in three forms: py2 byte strings (BINSTRING, protocol 2), py3 `bytes`, and numpy
// uint8 arrays of shape (n,) or (n, 1) from cv2.imencode. Reading keeps each image a view into
// the file's buffer (no per-image copy).
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../store/fs-util.js';
import { FormatError } from './errors.js';
import { describe, isNdArray, unpickle, type PickleValue } from './pickle.js';
import { PickleWriter } from './pickle-writer.js';

export interface VerificationSet {
  /** Encoded JPEG or PNG images, 2 per pair. */
  images: Buffer[];
  /** Per pair: the two images show the same person. */
  issame: boolean[];
}

/** How images are stored: py2 `str` (protocol 2), py3 `bytes` (protocol 3), numpy arrays (protocol 3). */
export type VerificationForm = 'py3-bytes' | 'py2-str' | 'numpy';

/** Reads a verification .bin of any of the three forms; bad input is a FormatError naming the file. */
export async function readVerificationBin(file: string): Promise<VerificationSet> {
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (e) {
    // readFile stops at 2 GiB; real verification sets are well under 1 GB.
    if ((e as NodeJS.ErrnoException).code === 'ERR_FS_FILE_TOO_LARGE') throw new FormatError('larger than 2 GiB: not a verification set (those are < 1 GB)', file);
    throw e;
  }
  return decodeVerificationBin(data, file);
}

/** Decodes a verification set from its bytes; `file` only labels error messages. */
export function decodeVerificationBin(data: Buffer, file = '<buffer>'): VerificationSet {
  const { value, end } = unpickle(data, file);
  if (end !== data.length) throw new FormatError(`${data.length - end} bytes follow the end of the pickle: the file holds more than one pickle or is corrupt`, file, end);
  if (!Array.isArray(value) || value.length !== 2) throw new FormatError(`holds a ${describe(value)}, expected a pair (bins, issame_list): not an insightface verification .bin`, file);
  const [bins, same] = value as readonly PickleValue[];
  const issame = issameList(same!, file);
  if (!Array.isArray(bins)) throw new FormatError(`bins is a ${describe(bins)}, expected a list of encoded images`, file);
  checkCounts(bins.length, issame.length, file);
  return { images: (bins as readonly PickleValue[]).map((b, i) => imageBytes(b, i, file)), issame };
}

/** Writes `set` so that Python's `pickle.load` reads it (py2-str: with encoding='bytes'); atomic. */
export async function writeVerificationBin(file: string, set: VerificationSet, opts: { form: VerificationForm }): Promise<void> {
  const chunks = encodeVerificationBin(set, opts.form, file);
  await writeFileAtomic(file, Buffer.concat(chunks), { durable: true });
}

/** The pickle of `set` in `form`, as chunks (the images themselves are not copied). */
export function encodeVerificationBin(set: VerificationSet, form: VerificationForm, file = '<output>'): Buffer[] {
  checkCounts(set.images.length, set.issame.length, file);
  set.images.forEach((img, i) => checkSignature(img, i, file));
  set.issame.forEach((s, i) => {
    if (typeof s !== 'boolean') throw new FormatError(`issame[${i}] is ${typeof s}, expected a boolean`, file);
  });
  const w = new PickleWriter(form === 'py2-str' ? 2 : 3);
  w.list(set.images, (img) => {
    switch (form) {
      case 'py2-str': return void w.pyStr(img);
      case 'py3-bytes': return void w.bytes(img);
      case 'numpy': return writeNumpyImage(w, img);
    }
  });
  w.list(set.issame, (s) => w.bool(s));
  return w.tuple(2).finish();
}

/**
 * What numpy 1.x pickles for `cv2.imencode(...)[1]` (uint8, shape (n, 1)), as in insightface's own
 * files: `_reconstruct(ndarray, (0,), b'b')` then BUILD with (1, shape, dtype, False, bytes).
 * numpy 2 still loads `numpy.core.multiarray._reconstruct`.
 */
function writeNumpyImage(w: PickleWriter, img: Buffer): void {
  w.memoized('_reconstruct', () => w.global('numpy.core.multiarray', '_reconstruct'));
  w.memoized('ndarray', () => w.global('numpy', 'ndarray'));
  w.int(0).tuple(1).bytes(Buffer.from('b')).tuple(3).reduce();
  w.mark().int(1).int(img.length).int(1).tuple(2);
  w.memoized('dtype u1', () => {
    w.memoized('dtype', () => w.global('numpy', 'dtype'));
    w.unicode('u1').bool(false).bool(true).tuple(3).reduce();
    w.mark().int(3).unicode('|').none().none().none().int(-1).int(-1).int(0).tuple(8).build();
  });
  w.bool(false).bytes(img).tuple(5).build();
}

function checkCounts(images: number, pairs: number, file: string): void {
  if (images !== 2 * pairs) throw new FormatError(`${images} images for ${pairs} pairs: a verification set has 2 images per pair (pair i = images 2i and 2i+1)`, file);
}

const imageName = (i: number): string => `image ${i} (pair ${i >> 1}, ${i % 2 ? 'second' : 'first'} image)`;

function imageBytes(v: PickleValue, i: number, file: string): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(v)) bytes = v;
  else if (isNdArray(v)) {
    const { dtype, shape } = v;
    const flat = shape.length === 1 || (shape.length === 2 && shape[1] === 1);
    if (dtype.descr !== 'u1' || !flat) throw new FormatError(`${imageName(i)} is a ${describe(v)}; expected uint8 with shape (n,) or (n, 1), as cv2.imencode returns`, file);
    bytes = v.data;
  } else throw new FormatError(`${imageName(i)} is a ${describe(v)}, expected encoded image bytes or a uint8 numpy array`, file);
  checkSignature(bytes, i, file);
  return bytes;
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function checkSignature(b: Uint8Array, i: number, file: string): void {
  if (!(b instanceof Uint8Array)) throw new FormatError(`${imageName(i)} is not a byte buffer`, file);
  const starts = (sig: Buffer): boolean => b.length >= sig.length && sig.every((x, k) => b[k] === x);
  if (starts(JPEG) || starts(PNG)) return;
  const head = Buffer.from(b.subarray(0, 8)).toString('hex').replace(/(..)(?!$)/g, '$1 ') || 'nothing (empty)';
  throw new FormatError(`${imageName(i)} is not a JPEG (FF D8 FF) or PNG: it starts with ${head}; the file is corrupt or not a verification set`, file);
}

/** issame: a list of bools (or 0/1 ints), or a 1-D numpy array of one-byte bools/ints. */
function issameList(v: PickleValue, file: string): boolean[] {
  const values: PickleValue[] = isNdArray(v) && v.dtype.itemsize === 1 && v.shape.length === 1 && /^[bui]/.test(v.dtype.descr) ? [...v.data] : (v as PickleValue[]);
  if (!Array.isArray(values)) throw new FormatError(`issame_list is a ${describe(v)}, expected a list of bools`, file);
  return values.map((s, i) => {
    if (s === true || s === 1) return true;
    if (s === false || s === 0) return false;
    throw new FormatError(`issame_list[${i}] (pair ${i}) is a ${describe(s)}, expected a bool (or 0/1)`, file);
  });
}
