// TFRecord files: a sequence of records `u64 length, u32 masked_crc32c(length), data,
// u32 masked_crc32c(data)`, all little-endian. Written by hand because no maintained npm package
// streams them with both CRCs checked; the CRC itself comes from @node-rs/crc32.
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, uniqueSuffix } from '../store/fs-util.js';
import { crc32c, crc32cShort, maskCrc } from './crc32c.js';
import { FormatError } from './errors.js';

/** Bytes before a record's data (length + its CRC); 4 more (the data CRC) follow it. */
export const TFRECORD_HEADER_BYTES = 12;
/** Bytes a record takes on top of its data. */
export const TFRECORD_FRAMING_BYTES = 16;

export interface TfRecord {
  /** Byte offset of the record (its length field) in the file. */
  offset: number;
  /**
   * The record's bytes. A view into a read buffer that is never reused, so it stays valid; but it
   * keeps that whole buffer (`chunkSize`) alive — copy it to keep a few records for long.
   */
  data: Buffer;
}

export interface ReadTfRecordsOptions {
  /** Check both CRCs of every record (default true). Off is faster and trusts the file. */
  verify?: boolean;
  /** Bytes per read (default 4 MiB). */
  chunkSize?: number;
  /**
   * A record cut short at the end of the file: 'error' (default), or 'stop' to end quietly, for
   * files another process may still be appending to (TensorBoard event files).
   */
  truncatedTail?: 'error' | 'stop';
  /** Byte offset of the first record to read (a record boundary, e.g. a saved position). */
  start?: number;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Streams the records of `file` with large sequential reads, checking their CRCs. Leave early with
 * `break` (for-await then closes the file); a caller driving `next()` by hand must call `return()`.
 */
export async function* readTfRecords(file: string, opts: ReadTfRecordsOptions = {}): AsyncGenerator<TfRecord> {
  const verify = opts.verify ?? true;
  const src = await ChunkedFile.open(file, opts.chunkSize ?? 4 << 20, opts.start ?? 0);
  try {
    for (let index = 0; src.remaining > 0; index++) {
      const offset = src.offset;
      const cut = (what: string) => {
        if (opts.truncatedTail === 'stop') return;
        throw new FormatError(`record ${index} is truncated: ${what}; the file was cut short (an interrupted write or copy?): re-create or re-download it`, file, offset);
      };
      if (src.remaining < TFRECORD_FRAMING_BYTES) return cut(`only ${src.remaining} bytes remain, fewer than a record's ${TFRECORD_FRAMING_BYTES} framing bytes`);
      const head = src.takeNow(TFRECORD_HEADER_BYTES) ?? (await src.take(TFRECORD_HEADER_BYTES));
      const high = head.readUInt32LE(4);
      const length = head.readUInt32LE(0) + high * 2 ** 32;
      if (verify) {
        const stored = head.readUInt32LE(8);
        const actual = maskCrc(crc32c(head.subarray(0, 8)));
        if (stored !== actual) {
          throw new FormatError(`record ${index}: the length field fails its CRC check (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupt or not a TFRecord file; re-create or re-download it`, file, offset);
        }
      }
      const rest = src.remaining;
      if (high >= 2 ** 21 || length + 4 > rest) return cut(`its header says ${length} data bytes, but only ${rest} bytes follow (${length + 4} needed)`);
      const body = src.takeNow(length + 4) ?? (await src.take(length + 4));
      const data = body.subarray(0, length);
      if (verify) {
        const stored = body.readUInt32LE(length);
        const actual = maskCrc(crc32c(data));
        if (stored !== actual) {
          throw new FormatError(`record ${index} (${length} bytes): its data fails the CRC check (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupt; re-create or re-download it`, file, offset);
        }
      }
      yield { offset, data };
    }
  } finally {
    await src.close();
  }
}

/** One record at a known offset (a saved position), read with two positional reads and checked. */
export async function readTfRecordAt(fh: FileHandle, file: string, offset: number): Promise<Buffer> {
  const head = Buffer.alloc(TFRECORD_HEADER_BYTES);
  const bad = (what: string) => new FormatError(`no valid record at this offset (${what}): the file changed since the position was saved`, file, offset);
  if ((await fh.read(head, 0, head.length, offset)).bytesRead < head.length) throw bad('end of file');
  if (head.readUInt32LE(8) !== maskCrc(crc32c(head.subarray(0, 8)))) throw bad('length CRC mismatch');
  const length = head.readUInt32LE(0) + head.readUInt32LE(4) * 2 ** 32;
  const body = Buffer.alloc(length + 4);
  if (length > 1 << 30 || (await fh.read(body, 0, body.length, offset + TFRECORD_HEADER_BYTES)).bytesRead < body.length) throw bad('truncated');
  const data = body.subarray(0, length);
  if (body.readUInt32LE(length) !== maskCrc(crc32c(data))) throw bad('data CRC mismatch');
  return data;
}

/**
 * A file read in large chunks with the next chunk always already requested, so the disk works
 * while records are parsed. Bytes within a chunk are handed out as views (no copy); only a
 * record that straddles two chunks is copied.
 */
class ChunkedFile {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private chunkStart = 0;
  private readPos = 0;
  private next: Promise<Buffer> | undefined;

  private constructor(private readonly fh: FileHandle, private readonly file: string, private readonly size: number, private readonly chunkSize: number) {}

  static async open(file: string, chunkSize: number, start = 0): Promise<ChunkedFile> {
    const fh = await fs.open(file, 'r');
    // The size is taken once: a file still being appended to is read as of now.
    const f = new ChunkedFile(fh, file, (await fh.stat()).size, chunkSize);
    if (start > f.size) {
      await fh.close();
      throw new FormatError(`cannot start reading at byte ${start}: the file has only ${f.size} bytes (a saved position from another version of the file?)`, file, start);
    }
    f.chunkStart = f.readPos = start;
    return f;
  }

  get offset(): number {
    return this.chunkStart + this.pos;
  }
  get remaining(): number {
    return this.size - this.offset;
  }

  /** The next `n` bytes if the current chunk holds them all. */
  takeNow(n: number): Buffer | undefined {
    if (this.pos + n > this.chunk.length) return undefined;
    return this.chunk.subarray(this.pos, (this.pos += n));
  }

  /** The next `n` bytes (n ≤ remaining), copied together from as many chunks as it takes. */
  async take(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let filled = this.chunk.copy(out, 0, this.pos);
    this.pos = this.chunk.length;
    while (filled < n) {
      await this.advance();
      const k = Math.min(n - filled, this.chunk.length);
      filled += this.chunk.copy(out, filled, 0, k);
      this.pos = k;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.fh.close();
  }

  private async advance(): Promise<void> {
    this.chunkStart += this.chunk.length;
    this.chunk = await (this.next ?? this.read());
    this.pos = 0;
    this.next = this.readPos < this.size ? this.read() : undefined;
    // Handled when awaited; without this a failed read-ahead would crash the process first.
    this.next?.catch(() => undefined);
  }

  private async read(): Promise<Buffer> {
    const at = this.readPos;
    const len = Math.min(this.chunkSize, this.size - at);
    this.readPos += len;
    // A fresh buffer per chunk: records already handed out stay valid.
    const buf = Buffer.allocUnsafe(len);
    for (let got = 0; got < len; ) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, at + got);
      if (bytesRead === 0) throw new FormatError(`the file shrank while being read (expected ${this.size} bytes); is another process rewriting it?`, this.file, at + got);
      got += bytesRead;
    }
    return buf;
  }
}

export interface TfRecordWriterOptions {
  /** Bytes buffered before a write to disk (default 1 MiB; two such buffers are used). */
  bufferSize?: number;
  /** fsync the file before it is renamed into place, and its folder after (default true). */
  durable?: boolean;
  /**
   * When durable, start an fdatasync in the background after every this many bytes (default 0:
   * never), so the disk writes while records are still being framed and close() has little left.
   */
  syncEvery?: number;
}

export interface TfRecordFileStats {
  file: string;
  records: number;
  /** File size, framing included. */
  bytes: number;
}

const RESOLVED = Promise.resolve();

/**
 * Writes a TFRecord file under a temporary name and renames it into place on `close()`, so a crash
 * never leaves a complete-looking file. Records are framed into one buffer while the other is being
 * written to disk. Await each `write()` before the next.
 */
export class TfRecordWriter {
  private buf: Buffer;
  private spare: Buffer;
  private used = 0;
  private inflight: Promise<void> = RESOLVED;
  private syncing: Promise<void> | undefined;
  /** Bytes handed to writes, and how many of them the last background sync covered. */
  private written = 0;
  private synced = 0;
  private busy = false;
  private state: 'open' | 'finished' | 'closed' = 'open';
  private fhOpen = true;
  private records = 0;
  private bytes = 0;

  private constructor(readonly file: string, private readonly tmp: string, private readonly fh: FileHandle, bufferSize: number, private readonly durable: boolean, private readonly syncEvery: number) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.spare = Buffer.allocUnsafe(bufferSize);
  }

  static async create(file: string, opts: TfRecordWriterOptions = {}): Promise<TfRecordWriter> {
    const tmp = `${file}.${uniqueSuffix()}.tmp`;
    const fh = await fs.open(tmp, 'wx');
    return new TfRecordWriter(file, tmp, fh, opts.bufferSize ?? 1 << 20, opts.durable ?? true, opts.syncEvery ?? 0);
  }

  /** Records and bytes written so far (framing included). */
  get stats(): TfRecordFileStats {
    return { file: this.file, records: this.records, bytes: this.bytes };
  }

  /**
   * Appends one record: `data`, or the concatenation of `data` parts (so an encoder can hand over
   * a large payload without first copying it into one buffer). Resolves at once unless a buffer
   * had to go to disk.
   */
  write(data: RecordData): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`${this.file}: write() after close()`));
    if (this.busy) return Promise.reject(new Error(`${this.file}: write() called before the previous write() resolved; await each write`));
    if (this.used + byteLength(data) + TFRECORD_FRAMING_BYTES <= this.buf.length) {
      this.frame(data);
      return RESOLVED;
    }
    this.busy = true;
    return this.writeSlow(data).finally(() => (this.busy = false));
  }

  /**
   * Frames the record now if it fits in the buffer, without a promise: the fast path of bulk
   * writers (`if (!w.tryWrite(r)) await w.write(r)`). False when a buffer must go to disk first.
   */
  tryWrite(data: RecordData): boolean {
    if (this.state !== 'open' || this.busy || this.used + byteLength(data) + TFRECORD_FRAMING_BYTES > this.buf.length) return false;
    this.frame(data);
    return true;
  }

  /** Flushes and syncs the file, still under its temporary name (first half of `close`). */
  async finish(): Promise<void> {
    if (this.state !== 'open') throw new Error(`${this.file}: already closed`);
    this.state = 'finished';
    await this.swap();
    await this.inflight;
    await this.syncing;
    if (this.durable) await this.fh.sync();
    this.fhOpen = false;
    await this.fh.close();
  }

  /** Renames the finished file into place (second half of `close`). */
  async commit(): Promise<TfRecordFileStats> {
    if (this.state !== 'finished') throw new Error(`${this.file}: commit() needs finish() first`);
    await fs.rename(this.tmp, this.file);
    this.state = 'closed';
    if (this.durable) await fsyncDir(path.dirname(this.file));
    return this.stats;
  }

  /** Writes everything and puts the file in place; on failure, removes the temporary file. */
  async close(): Promise<TfRecordFileStats> {
    try {
      await this.finish();
      return await this.commit();
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /** Drops the file: nothing appears under its name. Safe to call at any time, more than once. */
  async abort(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.inflight.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    if (this.fhOpen) await this.fh.close().catch(() => undefined);
    this.fhOpen = false;
    await fs.rm(this.tmp, { force: true });
  }

  private frame(data: RecordData): void {
    const start = this.used;
    this.used = frameTfRecord(this.buf, start, data);
    this.records++;
    this.bytes += this.used - start;
  }

  private async writeSlow(data: RecordData): Promise<void> {
    await this.swap();
    if (byteLength(data) + TFRECORD_FRAMING_BYTES <= this.buf.length) return this.frame(data);
    // Larger than a buffer: frame it in its own buffer rather than growing ours for good.
    const big = Buffer.allocUnsafe(byteLength(data) + TFRECORD_FRAMING_BYTES);
    frameTfRecord(big, 0, data);
    await this.inflight;
    this.inflight = writeAll(this.fh, big);
    this.written += big.length;
    this.records++;
    this.bytes += big.length;
  }

  /** Starts writing the filled buffer once the previous write is done, and frames into the other. */
  private async swap(): Promise<void> {
    await this.inflight;
    const full = this.buf.subarray(0, this.used);
    [this.buf, this.spare, this.used] = [this.spare, this.buf, 0];
    this.inflight = full.length > 0 ? writeAll(this.fh, full) : RESOLVED;
    // Handled when awaited next; without this a failed write would crash the process first.
    this.inflight.catch(() => undefined);
    this.written += full.length;
    if (this.durable && this.syncEvery > 0 && this.written - this.synced >= this.syncEvery && !this.syncing) {
      this.synced = this.written;
      // Once this write is in the page cache, push everything so far to the disk, unawaited.
      const syncing = this.inflight.then(() => this.fh.datasync()).finally(() => (this.syncing = undefined));
      syncing.catch(() => undefined);
      this.syncing = syncing;
    }
  }
}

/**
 * A record that writes its own bytes into the writer's buffer, so nothing is copied twice. It also
 * checksums them: it can run the native CRC over a large part through a view it already holds,
 * and the few framing bytes around it in JS (crc32cShort), which is cheaper per record.
 */
export interface RecordEncoder {
  readonly byteLength: number;
  /** Writes exactly `byteLength` bytes at `b[at]`; returns their CRC32C (unmasked). */
  encodeInto(b: Buffer, at: number): number;
}

/** A record's bytes: one buffer, parts to be written one after the other, or an encoder. */
export type RecordData = Uint8Array | readonly Uint8Array[] | RecordEncoder;

const isEncoder = (data: RecordData): data is RecordEncoder => !Array.isArray(data) && !(data instanceof Uint8Array);
const byteLength = (data: RecordData): number => (Array.isArray(data) ? (data as readonly Uint8Array[]).reduce((n, p) => n + p.length, 0) : (data as Uint8Array | RecordEncoder).byteLength);

/** Writes header, data and data CRC of one record into `b` at `at`; returns the end offset. */
export function frameTfRecord(b: Buffer, at: number, data: RecordData): number {
  const length = byteLength(data);
  b.writeUInt32LE(length % 2 ** 32, at);
  b.writeUInt32LE(Math.floor(length / 2 ** 32), at + 4);
  b.writeUInt32LE(maskCrc(crc32cShort(b, at, at + 8)), at + 8);
  const p = at + TFRECORD_HEADER_BYTES;
  let crc: number;
  if (isEncoder(data)) {
    crc = data.encodeInto(b, p);
  } else {
    let q = p;
    for (const part of Array.isArray(data) ? data : [data]) {
      b.set(part, q);
      q += part.length;
    }
    // One CRC over the copied bytes rather than one per part: one native call, on bytes still in cache.
    crc = crc32c(b.subarray(p, q));
  }
  b.writeUInt32LE(maskCrc(crc), p + length);
  return p + length + 4;
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await fh.write(buf, done, buf.length - done)).bytesWritten;
}
