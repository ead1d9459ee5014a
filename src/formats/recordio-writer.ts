// Writing MXNet RecordIO (.rec + .idx) byte for byte as dmlc-core's RecordIOWriter and MXNet's
// MXIndexedRecordIO do: a record is cut wherever the magic word sits at a 4-aligned payload
// offset (that word is dropped; readers put it back), and each .idx line is `key\toffset\n`.
// Files are written under temporary names and renamed on close(), so a crash never leaves a
// .rec that looks complete.
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { FormatError } from './errors.js';
import { MAGIC, MAGIC_BYTES, MAX_RECORD_BYTES, align4, idxPathFor } from './recordio.js';

export interface RecordWriterOptions {
  /** Where to write the .idx (default: next to the .rec); false writes none. */
  idxPath?: string | false;
  /** Bytes gathered in memory before each write to disk. */
  bufferSize?: number;
}

const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The payload as buffers in which every part but the last keeps 4-byte alignment. */
function payloadParts(payload: Uint8Array | readonly Uint8Array[]): Buffer[] {
  const parts = (payload instanceof Uint8Array ? [payload] : [...payload]).map(asBuffer);
  // Magic words count only at offsets aligned to the record start, so parts must not shift them.
  return parts.slice(0, -1).every((p) => p.length % 4 === 0) ? parts : [Buffer.concat(parts)];
}

/** Record offsets of magic words at 4-aligned positions: where dmlc's writer cuts the record. */
function magicCuts(parts: Buffer[]): number[] {
  const cuts: number[] = [];
  let base = 0;
  for (const p of parts) {
    // indexOf is a native substring search: far faster than testing every aligned word in JS.
    for (let i = p.indexOf(MAGIC_BYTES); i >= 0; i = p.indexOf(MAGIC_BYTES, i + 1)) {
      if (i % 4 === 0) cuts.push(base + i);
    }
    base += p.length;
  }
  return cuts;
}

/** Copies record bytes [from, to) out of `parts` into `target` at `at`; returns the new `at`. */
function copyRange(parts: Buffer[], from: number, to: number, target: Buffer, at: number): number {
  let base = 0;
  for (const p of parts) {
    const lo = Math.max(from, base);
    const hi = Math.min(to, base + p.length);
    if (lo < hi) at += p.copy(target, at, lo - base, hi - base);
    base += p.length;
  }
  return at;
}

function encodedSize(total: number, cuts: number): number {
  return 8 * (cuts + 1) + total - 4 * cuts + (align4(total) - total);
}

/** Encodes one record (all its parts) into `target` at `at`. */
function encode(parts: Buffer[], total: number, cuts: number[], target: Buffer, at: number): void {
  const header = (cflag: number, length: number): void => {
    target.writeUInt32LE(MAGIC, at);
    target.writeUInt32LE(((cflag << 29) | length) >>> 0, at + 4);
    at += 8;
  };
  let done = 0;
  for (const cut of cuts) {
    header(done === 0 ? 1 : 2, cut - done);
    at = copyRange(parts, done, cut, target, at);
    done = cut + 4;
  }
  header(cuts.length > 0 ? 3 : 0, total - done);
  at = copyRange(parts, done, total, target, at);
  target.fill(0, at, at + align4(total) - total);
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
  }
}

/** Which keys were written: a bitmap for the usual small keys, a Set beyond. */
class KeySet {
  private bits = new Uint8Array(1 << 12);
  private readonly large = new Set<number>();

  /** Adds `key`; false when it was already there. */
  add(key: number): boolean {
    if (key >= 2 ** 27) return this.large.size !== this.large.add(key).size;
    if (key >> 3 >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(2 * this.bits.length, (key >> 3) + 1));
      bigger.set(this.bits);
      this.bits = bigger;
    }
    const had = this.bits[key >> 3]! & (1 << (key & 7));
    this.bits[key >> 3]! |= 1 << (key & 7);
    return had === 0;
  }
}

interface Target {
  path: string;
  temp: string;
  fh: FileHandle;
}

async function openTemp(path: string): Promise<Target> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  return { path, temp, fh: await open(temp, 'wx') };
}

export class RecordWriter {
  private buf: Buffer;
  private used = 0;
  private flushed = 0;
  private idxText = '';
  private idxFlushed = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly keys = new KeySet();
  private state: 'open' | 'closing' | 'closed' | 'failed' = 'open';
  /** Records written. */
  count = 0;
  /** Magic words cut out of payloads (dmlc's `except_counter`). */
  cuts = 0;

  private constructor(private readonly rec: Target, private readonly idx: Target | undefined, private readonly bufferSize: number) {
    this.buf = Buffer.allocUnsafe(bufferSize);
  }

  static async create(recPath: string, opts: RecordWriterOptions = {}): Promise<RecordWriter> {
    const rec = await openTemp(recPath);
    const idxPath = opts.idxPath ?? idxPathFor(recPath);
    const idx = idxPath === false ? undefined : await openTemp(idxPath).catch(async (e) => {
      await rec.fh.close();
      await rm(rec.temp, { force: true });
      throw e;
    });
    return new RecordWriter(rec, idx, opts.bufferSize ?? 4 << 20);
  }

  /** Byte offset where the next record will start. */
  get offset(): number {
    return this.flushed + this.used;
  }

  /**
   * Appends one record (the payload may come in parts, e.g. `packIR(...)`: they are not joined
   * first) and its .idx line; returns the record's offset. Awaiting each call bounds memory.
   */
  async write(payload: Uint8Array | readonly Uint8Array[], key?: number): Promise<number> {
    if (this.state !== 'open') throw new Error(`RecordWriter for ${this.rec.path} is ${this.state}`);
    const index = this.count;
    if (this.idx && (key === undefined || !Number.isSafeInteger(key) || key < 0)) {
      throw new FormatError(`record ${index}: key ${key} is not a non-negative integer — every record of an indexed .rec needs one`, this.rec.path);
    }
    const parts = payloadParts(payload);
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total >= MAX_RECORD_BYTES) throw new FormatError(`record ${index} (key ${key}) has ${total} bytes; RecordIO records must be smaller than 2^29`, this.rec.path);
    if (this.idx && !this.keys.add(key!)) throw new FormatError(`record ${index}: key ${key} was already written — keys of a .idx must be unique`, this.rec.path);
    const cuts = magicCuts(parts);
    const size = encodedSize(total, cuts.length);
    // Everything up to the await below is synchronous, so concurrent calls cannot interleave.
    let queued = size > this.buf.length - this.used && this.swap();
    const offset = this.offset;
    if (size > this.buf.length) {
      const own = Buffer.allocUnsafe(size);
      encode(parts, total, cuts, own, 0);
      this.queue(this.rec.fh, own, offset);
      this.flushed += size;
      queued = true;
    } else {
      encode(parts, total, cuts, this.buf, this.used);
      this.used += size;
    }
    if (this.idx) this.idxText += `${key}\t${offset}\n`;
    if (this.idx && this.idxText.length >= this.bufferSize / 4) queued = this.swapIdx();
    this.count++;
    this.cuts += cuts.length;
    if (queued) await this.chain.catch((e) => this.failWith(e));
    return offset;
  }

  /** Flushes, syncs, and renames both files to their final names (.idx first, then .rec). */
  async close(): Promise<void> {
    if (this.state !== 'open') throw new Error(`RecordWriter for ${this.rec.path} is ${this.state}`);
    this.state = 'closing';
    this.swap();
    this.swapIdx();
    try {
      await this.chain;
      for (const t of [this.idx, this.rec]) {
        if (!t) continue;
        await t.fh.sync();
        await t.fh.close();
        await rename(t.temp, t.path);
      }
      this.state = 'closed';
    } catch (e) {
      this.failWith(e);
    }
  }

  /** Drops everything written so far (removes the temporary files). */
  async abort(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.chain.catch(() => undefined);
    for (const t of [this.rec, this.idx]) {
      if (!t) continue;
      await t.fh.close().catch(() => undefined);
      await rm(t.temp, { force: true });
    }
  }

  private failWith(e: unknown): never {
    this.state = 'failed';
    throw e;
  }

  private queue(fh: FileHandle, data: Buffer, position: number): void {
    this.chain = this.chain.then(() => writeAll(fh, data, position));
  }

  private swap(): boolean {
    if (this.used === 0) return false;
    this.queue(this.rec.fh, this.buf.subarray(0, this.used), this.flushed);
    this.flushed += this.used;
    this.buf = Buffer.allocUnsafe(this.bufferSize);
    this.used = 0;
    return true;
  }

  private swapIdx(): boolean {
    if (!this.idx || this.idxText === '') return false;
    const data = Buffer.from(this.idxText, 'latin1');
    this.queue(this.idx.fh, data, this.idxFlushed);
    this.idxFlushed += data.length;
    this.idxText = '';
    return true;
  }
}
