// NumPy's .npy format for the one array kind facepipe stores (embeddings, `<name>.emb.npy`):
// 2-D float32, little-endian, C order. Written byte for byte as numpy 2.x's np.save writes it
// (format 1.0, header padded to 64 bytes, with numpy's spare room for growing the first axis), so
// `np.load` reads it and a file's digest does not depend on which program saved it. Reads formats
// 1.0, 2.0 and 3.0 (4-byte header length; 3.0 is UTF-8), including headers from Python 2 numpy.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { FormatError } from '../formats/errors.js';

/** A row-major matrix of float32. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;
/** numpy pads the header so the first axis can grow to this many digits in place. */
const GROWTH_DIGITS = 21;
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes np.save(file, m) writes for a float32 2-D C-order array. */
export function encodeNpy(m: Matrix): Buffer {
  checkShape(m);
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
  dict += ' '.repeat(Math.max(0, GROWTH_DIGITS - String(m.rows).length));
  const hlen = dict.length + 1; // + the final newline
  const pad = ALIGN - ((MAGIC.length + 2 + 2 + hlen) % ALIGN);
  const header = Buffer.alloc(MAGIC.length + 4 + hlen + pad, 0x20);
  MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(hlen + pad, 8);
  header.write(dict, 10, 'latin1');
  header[header.length - 1] = 0x0a;
  return Buffer.concat([header, float32Bytes(m.data)]);
}

/** Parses .npy bytes; `file` names the source in errors. */
export function decodeNpy(bytes: Uint8Array, file = '<npy>'): Matrix {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new FormatError('not a .npy file (no \\x93NUMPY magic)', file, 0);
  const major = buf[6]!;
  if (major < 1 || major > 3) throw new FormatError(`unsupported .npy format version ${major}.${buf[7]}`, file, 6);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lenBytes) throw new FormatError('truncated header', file, 8);
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const dataStart = 8 + lenBytes + hlen;
  if (buf.length < dataStart) throw new FormatError(`truncated header: needs ${hlen} bytes`, file, 8 + lenBytes);
  const text = buf.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, dataStart);
  const header = parseHeader(text, file);
  if (header.descr !== '<f4') {
    throw new FormatError(`dtype '${header.descr}' is not supported: facepipe reads float32 little-endian ('<f4') only; convert with a.astype('<f4')`, file, 8 + lenBytes);
  }
  if (header.fortranOrder) throw new FormatError('Fortran-order arrays are not supported; save np.ascontiguousarray(a)', file, 8 + lenBytes);
  if (header.shape.length !== 2) throw new FormatError(`expected a 2-D array, got shape (${header.shape.join(', ')})`, file, 8 + lenBytes);
  const [rows, cols] = header.shape as [number, number];
  const want = rows * cols * 4;
  if (buf.length - dataStart !== want) {
    throw new FormatError(`shape (${rows}, ${cols}) needs ${want} data bytes, the file has ${buf.length - dataStart}`, file, dataStart);
  }
  return { rows, cols, data: readFloat32(buf, dataStart, rows * cols) };
}

export async function readNpy(file: string): Promise<Matrix> {
  return decodeNpy(await readFile(file), file);
}

/** Writes through a temporary file and a rename, so a crash never leaves a half-written array. */
export async function writeNpy(file: string, m: Matrix): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, encodeNpy(m));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function checkShape(m: Matrix): void {
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0 || m.data.length !== m.rows * m.cols) {
    throw new RangeError(`npy: shape (${m.rows}, ${m.cols}) does not match ${m.data.length} values`);
  }
}

function float32Bytes(data: Float32Array): Buffer {
  if (littleEndianHost) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, i * 4);
  return out;
}

function readFloat32(buf: Buffer, start: number, count: number): Float32Array {
  const out = new Float32Array(count);
  // Copy rather than view: the data offset inside a pooled Buffer need not be 4-byte aligned.
  if (littleEndianHost) new Uint8Array(out.buffer).set(buf.subarray(start, start + count * 4));
  else for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(start + i * 4);
  return out;
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * The header is a Python dict literal. Only what numpy itself writes is accepted: string keys,
 * a string descr, True/False, a tuple of ints (Python 2 wrote `3L`); anything else is an error
 * rather than something evaluated.
 */
function parseHeader(text: string, file: string): Header {
  const tokens = text.match(/'[^']*'|"[^"]*"|\d+L?|[A-Za-z_]+|[{}():,]|\S/g) ?? [];
  let i = 0;
  const fail = (what: string): never => {
    throw new FormatError(`cannot parse the header ${JSON.stringify(text.trim())}: ${what}`, file, 8);
  };
  const next = (): string => tokens[i++] ?? fail('unexpected end');
  const expect = (t: string): void => void (next() === t || fail(`expected '${t}'`));
  const str = (t: string): string => (/^['"]/.test(t) ? t.slice(1, -1) : fail(`expected a string, got ${t}`));
  const fields = new Map<string, string | boolean | number[]>();
  expect('{');
  while (tokens[i] !== '}') {
    const key = str(next());
    expect(':');
    const t = next();
    if (t === 'True' || t === 'False') fields.set(key, t === 'True');
    else if (t === '(') fields.set(key, parseTuple());
    else if (/^['"]/.test(t)) fields.set(key, str(t));
    else fail(`unsupported value ${t} for '${key}' (facepipe reads float32 '<f4' arrays only)`);
    if (tokens[i] === ',') i++;
    else if (tokens[i] !== '}') fail("expected ',' or '}'");
  }
  function parseTuple(): number[] {
    const dims: number[] = [];
    while (tokens[i] !== ')') {
      const t = next();
      if (!/^\d+L?$/.test(t)) fail(`expected a dimension, got ${t}`);
      dims.push(Number.parseInt(t, 10));
      if (tokens[i] === ',') i++;
      else if (tokens[i] !== ')') fail("expected ',' or ')'");
    }
    i++;
    return dims;
  }
  const descr = fields.get('descr');
  const fortranOrder = fields.get('fortran_order');
  const shape = fields.get('shape');
  if (typeof descr !== 'string' || typeof fortranOrder !== 'boolean' || !Array.isArray(shape)) {
    fail("needs 'descr' (a string), 'fortran_order' (a bool) and 'shape' (a tuple)");
  }
  return { descr: descr as string, fortranOrder: fortranOrder as boolean, shape: shape as number[] };
}
