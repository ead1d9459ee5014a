// A shard's records, whose offsets the main thread took from the .idx, read in batches of about
// `chunk` bytes into two reused buffers: the next batch is being read while the worker encodes
// this one. Records that are neighbours in the file (in an unshuffled shard, all of them) share
// one read, so a shard is a few large sequential reads, and no buffer is allocated per batch
// (fresh multi-MB buffers per read were most of the garbage, and page faults, of a conversion).
import { readInto, SPAN_CAP, type RecordFile } from '../../src/formats/recordio.js';

/** Where each record starts in the .rec, and the next indexed offset (or the file size) after it. */
export interface Spans {
  offsets: Float64Array;
  ends: Float64Array;
}

export interface Batch {
  buf: Buffer;
  /** The batch holds records [from, to) of the spans. */
  from: number;
  to: number;
  /** Per record (at index i - from): where its bytes start in `buf`, and where the bytes read for it end. */
  start: Int32Array;
  limit: Int32Array;
}

// A shuffled shard reads every record on its own: this bounds the reads in flight per batch.
const MAX_RECORDS = 4096;

const newBatch = (size: number): Batch => ({ buf: Buffer.allocUnsafe(size), from: 0, to: 0, start: new Int32Array(MAX_RECORDS), limit: new Int32Array(MAX_RECORDS) });

/** The likely extent of record i: up to the next indexed offset, capped for a sparse .idx. */
const spanOf = (s: Spans, i: number): number => Math.min(s.ends[i]! - s.offsets[i]!, SPAN_CAP);

export class RecordBatches {
  // Kept from shard to shard: fresh buffers would cost a page fault every 4 KiB.
  private readonly batches: [Batch, Batch] = [newBatch(0), newBatch(0)];
  private turn = 0;
  private pos = 0;
  private to = 0;
  private pending: Promise<Batch | null> | undefined;

  constructor(private readonly src: RecordFile, private readonly spans: Spans, private readonly chunk: number) {}

  /** Starts on records [from, to) (a shard); the previous ones must all have been taken. */
  reset(from: number, to: number): void {
    [this.pos, this.to, this.pending] = [from, to, undefined];
  }

  /** The next batch, or null after the last. The previous batch's buffer is reused from now on. */
  async next(): Promise<Batch | null> {
    const batch = await (this.pending ?? this.load());
    this.pending = batch ? this.load() : undefined;
    // Handled when awaited; without this a failed read-ahead would crash the thread first.
    this.pending?.catch(() => undefined);
    return batch;
  }

  /** Waits for a read still in flight, so the file can be closed. */
  async close(): Promise<void> {
    await this.pending?.catch(() => undefined);
  }

  private async load(): Promise<Batch | null> {
    if (this.pos >= this.to) return null;
    const b = this.batches[this.turn]!;
    this.turn ^= 1;
    const { spans } = this;
    b.from = this.pos;
    let size = 0;
    let i = b.from;
    for (; i < this.to && i - b.from < MAX_RECORDS; i++) {
      const span = spanOf(spans, i);
      if (i > b.from && size + span > this.chunk) break;
      b.start[i - b.from] = size;
      size += span;
    }
    b.to = this.pos = i;
    if (b.buf.length < size) b.buf = Buffer.allocUnsafe(Math.max(size, this.chunk));
    const reads: Promise<void>[] = [];
    for (let first = b.from; first < b.to;) {
      let end = first + 1;
      while (end < b.to && spans.offsets[end] === spans.offsets[end - 1]! + spanOf(spans, end - 1)) end++;
      reads.push(this.readRun(b, first, end));
      first = end;
    }
    await Promise.all(reads);
    return b;
  }

  /** Reads records [first, end), neighbours in the file, with one read; a short read (the file shrank) limits them. */
  private async readRun(b: Batch, first: number, end: number): Promise<void> {
    const at = b.start[first - b.from]!;
    const size = b.start[end - 1 - b.from]! + spanOf(this.spans, end - 1) - at;
    const got = await readInto(this.src.fh, b.buf, at, size, this.spans.offsets[first]!);
    for (let i = first; i < end; i++) {
      const j = i - b.from;
      b.limit[j] = Math.min(b.start[j]! + spanOf(this.spans, i), at + got);
    }
  }
}
