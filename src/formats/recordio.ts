// Reading MXNet RecordIO (.rec) files, as written by dmlc-core's RecordIOWriter. Each part is
// `u32 magic, u32 lrec, payload, zero padding to 4 bytes`; `lrec >>> 29` is the continuation flag
// (0 whole, 1 first, 2 middle, 3 last) and the low 29 bits the payload length. The writer cuts a
// record wherever the magic word sits at a 4-aligned payload offset, so readers must join the
// parts and put the magic back. Written by hand: no maintained JavaScript reader exists.
import { open, type FileHandle } from 'node:fs/promises';
import { FormatError } from './errors.js';
import { RecordIndex } from './recordio-index.js';

export { RecordIndex };

export const MAGIC = 0xced7230a;
export const MAGIC_BYTES = Buffer.from([0x0a, 0x23, 0xd7, 0xce]);
/** Records must be smaller than this (the length field has 29 bits). */
export const MAX_RECORD_BYTES = 2 ** 29;
const LENGTH_MASK = MAX_RECORD_BYTES - 1;
const HEADER = 8;

export const align4 = (n: number): number => Math.ceil(n / 4) * 4;

export interface RecordEntry {
  /** Byte offset of the record's first magic word (what the .idx stores). */
  offset: number;
  /** The record payload; a view into a read buffer that is never reused, so it may be kept. */
  record: Buffer;
}

/** Where `buf[0]` sits in which file; a record read by key also names its key and .idx in errors. */
export interface Where {
  file: string;
  base: number;
  key?: number;
  idxFile?: string;
}

export type Parsed = { record: Buffer; end: number } | { need: number };

// Built only when an error is thrown: reads by key are hot, and a string per record is garbage.
const note = (w: Where): string => (w.idxFile === undefined ? '' : ` (key ${w.key} of ${w.idxFile}; if that .idx was not made for this .rec, regenerate it)`);

function fail(where: Where, at: number, message: string): never {
  throw new FormatError(message + note(where), where.file, where.base + at);
}

function truncated(where: Where, at: number, need: number, fileEnd: number): FormatError {
  return new FormatError(
    `truncated record: it needs ${need} bytes but the file ends ${fileEnd - where.base - at} bytes after its start — the file is incomplete; download or rebuild it${note(where)}`,
    where.file, where.base + at);
}

/**
 * The payload of the whole (unsplit) record whose header is at `buf[at]`, if all of it lies
 * before `limit`; undefined when `parseRecord` must decide (split, corrupt, or not all read).
 * A view, and nothing else allocated: the hot path of bulk readers.
 */
export function wholeRecord(buf: Buffer, at: number, limit: number): Buffer | undefined {
  if (limit - at < HEADER || buf.readUInt32LE(at) !== MAGIC) return undefined;
  const lrec = buf.readUInt32LE(at + 4);
  // A continuation flag other than 0 sets the top bits, so lrec is then above LENGTH_MASK.
  return lrec <= LENGTH_MASK && at + HEADER + align4(lrec) <= limit ? buf.subarray(at + HEADER, at + HEADER + lrec) : undefined;
}

/** Joins the parts of a split record, putting back the magic word the writer cut out. */
function joinParts(parts: Buffer[]): Buffer {
  let size = 4 * (parts.length - 1);
  for (const p of parts) size += p.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  parts.forEach((p, i) => {
    if (i > 0) at += MAGIC_BYTES.copy(out, at);
    at += p.copy(out, at);
  });
  return out;
}

/**
 * Parses the record that starts at `buf[at]`: the record and the index just past it, or how many
 * bytes from `at` are needed to go on. A whole record is a view into `buf`; a split one is copied.
 */
export function parseRecord(buf: Buffer, at: number, where: Where): Parsed {
  let pos = at;
  let parts: Buffer[] | undefined;
  let size = 0;
  for (;;) {
    if (buf.length - pos < HEADER) return { need: pos - at + HEADER };
    const magic = buf.readUInt32LE(pos);
    if (magic !== MAGIC) {
      fail(where, pos, parts
        ? `split record starting at byte ${where.base + at} continues with 0x${magic.toString(16).padStart(8, '0')} instead of the magic word: the file is corrupt — rebuild it`
        : `bad magic word 0x${magic.toString(16).padStart(8, '0')} where a record should start (expected 0xced7230a): not an MXNet .rec file, or corrupt here`);
    }
    const lrec = buf.readUInt32LE(pos + 4);
    const cflag = lrec >>> 29;
    const len = lrec & LENGTH_MASK;
    if (cflag > 3) fail(where, pos, `bad continuation flag ${cflag} (0–3 allowed): the file is corrupt`);
    if (cflag >= 2 && !parts) {
      fail(where, pos, `${cflag === 2 ? 'middle' : 'last'} part of a split record without its first part: the file is corrupt, or reading started inside a record`);
    }
    if (cflag <= 1 && parts) {
      fail(where, at, `split record has no last part (a new record starts at byte ${where.base + pos}): the file is corrupt — rebuild it`);
    }
    const partEnd = pos + HEADER + align4(len);
    if (buf.length < partEnd) return { need: partEnd - at };
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (cflag === 0) return { record: payload, end: partEnd };
    (parts ??= []).push(payload);
    size += len + 4;
    if (size > MAX_RECORD_BYTES) fail(where, at, `split record exceeds the 2^29-byte RecordIO limit: the file is corrupt`);
    pos = partEnd;
    if (cflag === 3) return { record: joinParts(parts), end: partEnd };
  }
}

/** Reads up to `size` bytes at `position` into `buf[at]`; returns how many (fewer only at the end of the file). */
export async function readInto(fh: FileHandle, buf: Buffer, at: number, size: number, position: number): Promise<number> {
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await fh.read(buf, at + filled, size - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Reads `size` bytes at `position` into a fresh buffer (fewer only at the end of the file). */
async function readAt(fh: FileHandle, position: number, size: number, keep?: Buffer): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  const kept = keep ? keep.copy(buf) : 0;
  return buf.subarray(0, kept + (await readInto(fh, buf, kept, size - kept, position + kept)));
}

export interface ReadRecordsOptions {
  /** Bytes per read; records are views into these buffers. */
  chunkSize?: number;
}

/** Every record in file order, with large sequential reads (not one read per record). */
export async function* readRecords(file: string, opts: ReadRecordsOptions = {}): AsyncGenerator<RecordEntry> {
  const chunkSize = opts.chunkSize ?? 8 << 20;
  const fh = await open(file, 'r');
  try {
    let buf: Buffer = Buffer.alloc(0);
    let where: Where = { file, base: 0 };
    let at = 0;
    let eof = false;
    for (;;) {
      if (at === buf.length && eof) return;
      const parsed: Parsed = at < buf.length ? parseRecord(buf, at, where) : { need: HEADER };
      if ('record' in parsed) {
        yield { offset: where.base + at, record: parsed.record };
        at = parsed.end;
        continue;
      }
      if (eof) throw truncated(where, at, parsed.need, where.base + buf.length);
      // Refill: a fresh buffer (earlier records may still be in use) starting with the unparsed tail.
      const start = where.base + at;
      const size = Math.max(chunkSize, parsed.need);
      const tail = buf.subarray(at);
      buf = await readAt(fh, start, size, tail);
      eof = buf.length < size;
      where = { file, base: start };
      at = 0;
    }
  } finally {
    await fh.close();
  }
}

/** The .idx next to a .rec: `train.rec` → `train.idx`. */
export function idxPathFor(recPath: string): string {
  return recPath.endsWith('.rec') ? `${recPath.slice(0, -4)}.idx` : `${recPath}.idx`;
}

// A first guess at a record's size when the next indexed offset is far away (a sparse .idx).
export const SPAN_CAP = 1 << 20;
// Nearby records are fetched with one read when the gap between them is at most this.
const MERGE_GAP = 64 << 10;
const MAX_READ = 16 << 20;

/**
 * A .rec open for positional reads of records whose offsets come from its .idx: what an
 * IndexedRecordReader reads through, and what a thread that got the offsets from elsewhere uses.
 */
export class RecordFile {
  private constructor(readonly file: string, readonly idxFile: string, readonly size: number, readonly fh: FileHandle) {}

  static async open(recPath: string, idxPath = idxPathFor(recPath)): Promise<RecordFile> {
    const fh = await open(recPath, 'r');
    try {
      return new RecordFile(recPath, idxPath, (await fh.stat()).size, fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * The record of `key` that starts at `offset`, when the next indexed offset (or the end of the
   * file) is `end`: one read of the likely span, more if the record is longer.
   */
  async readOne(key: number, offset: number, end: number): Promise<Buffer> {
    return this.parseAt(await readAt(this.fh, offset, Math.min(end - offset, SPAN_CAP)), 0, offset, key);
  }

  /** Parses the record of `key` at `buf[at]` (file offset `base + at`), reading more when it is longer than first guessed. */
  async parseAt(buf: Buffer, at: number, base: number, key: number): Promise<Buffer> {
    const where: Where = { file: this.file, base: base + at, key, idxFile: this.idxFile };
    let view = buf.subarray(at);
    for (;;) {
      const parsed = parseRecord(view, 0, where);
      if ('record' in parsed) return parsed.record;
      if (where.base + parsed.need > this.size) throw truncated(where, 0, parsed.need, this.size);
      view = await readAt(this.fh, where.base, parsed.need);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Random access by key through the .idx, with positional reads. */
export class IndexedRecordReader {
  readonly file: string;
  readonly idxFile: string;
  readonly fileSize: number;

  private constructor(private readonly src: RecordFile, readonly index: RecordIndex) {
    [this.file, this.idxFile, this.fileSize] = [src.file, src.idxFile, src.size];
  }

  static async open(recPath: string, idxPath = idxPathFor(recPath)): Promise<IndexedRecordReader> {
    const src = await RecordFile.open(recPath, idxPath);
    try {
      return new IndexedRecordReader(src, await RecordIndex.load(idxPath, recPath, src.size));
    } catch (e) {
      await src.close();
      throw e;
    }
  }

  /** Keys in .idx order (write order). */
  get keys(): readonly number[] {
    return this.index.keys;
  }

  has(key: number): boolean {
    return this.index.position(key) >= 0;
  }

  offsetOf(key: number): number {
    return this.index.offsets[this.positionOf(key)]!;
  }

  /**
   * Fills `offsets[at + i]` and `ends[at + i]` (the next indexed offset, or the file size) for
   * each key: what `RecordFile.readOne` needs, in typed arrays that can go to another thread.
   */
  locate(keys: ArrayLike<number>, offsets: Float64Array, ends: Float64Array, at = 0): void {
    for (let i = 0; i < keys.length; i++) {
      const p = this.positionOf(keys[i]!);
      offsets[at + i] = this.index.offsets[p]!;
      ends[at + i] = this.index.ends[p]!;
    }
  }

  private positionOf(key: number): number {
    const p = this.index.position(key);
    if (p < 0) throw new FormatError(`no key ${key} in the .idx (it lists ${this.index.keys.length} records) — check the key, or regenerate the .idx from its .rec`, this.idxFile);
    return p;
  }

  async read(key: number): Promise<Buffer> {
    return (await this.readMany([key]))[0]!;
  }

  /** Records for `keys` (in that order); neighbouring records share one read, reads run in parallel. */
  async readMany(keys: readonly number[]): Promise<Buffer[]> {
    const { offsets, ends } = this.index;
    const order = keys.map((k, i) => ({ i, key: k, at: offsets[this.positionOf(k)]!, end: 0 })).sort((x, y) => x.at - y.at);
    for (const o of order) o.end = o.at + Math.min(ends[this.index.position(o.key)]! - o.at, SPAN_CAP);
    const groups: Array<typeof order> = [];
    for (const o of order) {
      const g = groups.at(-1);
      if (g && o.at <= g.at(-1)!.end + MERGE_GAP && o.end - g[0]!.at <= MAX_READ) g.push(o);
      else groups.push([o]);
    }
    const out: Buffer[] = new Array(keys.length);
    await Promise.all(groups.map(async (g) => {
      const first = g[0]!.at;
      const buf = await readAt(this.src.fh, first, g.reduce((m, o) => Math.max(m, o.end), 0) - first);
      for (const o of g) out[o.i] = await this.src.parseAt(buf, o.at - first, first, o.key);
    }));
    return out;
  }

  async close(): Promise<void> {
    await this.src.close();
  }
}
