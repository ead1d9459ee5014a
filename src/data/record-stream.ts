// An endless, seeded stream of training records over TFRecord shards: epochs of (optionally
// shuffled) shards read sequentially, then a shuffle buffer — tf.data's
// `shards.shuffle().interleave…repeat().shuffle(buffer)` made exactly reproducible. Its position is
// a small JSON value (epoch, shard, byte offset, the buffer as record positions, the RNG state), so
// a checkpoint can resume it to the very record.
import { open, type FileHandle } from 'node:fs/promises';
import { readTfRecordAt, readTfRecords, type TfRecord } from '../formats/tfrecord.js';
import { Rng } from '../util/random.js';

export interface StreamOptions {
  seed: number;
  /** Records held for shuffling (0 = read order). */
  shuffleBuffer: number;
  /** Visit the shards in a seeded order each epoch. */
  shuffleShards: boolean;
}

/** Where the stream is: enough to continue it exactly. JSON-safe. */
export interface StreamState {
  epoch: number;
  /** Index into this epoch's shard order. */
  cursor: number;
  /** Byte offset of the next unread record in the current shard. */
  offset: number;
  /** The shuffle buffer, as [shard index, byte offset] of each record. */
  buffer: [number, number][];
  rng: number[];
}

export interface StreamRecord {
  shard: number;
  offset: number;
  data: Buffer;
  epoch: number;
}

interface Held {
  shard: number;
  offset: number;
  data: Buffer;
}

export class RecordStream {
  private reader: AsyncGenerator<TfRecord> | undefined;
  private buffer: Held[] = [];
  private epoch = 0;
  private cursor = 0;
  private offset = 0;
  private rng: Rng;

  private constructor(private readonly files: readonly string[], private readonly o: StreamOptions) {
    this.rng = Rng.seeded(o.seed);
  }

  static async open(files: readonly string[], o: StreamOptions, state?: StreamState): Promise<RecordStream> {
    if (files.length === 0) throw new Error('no TFRecord shards to read');
    const s = new RecordStream(files, o);
    if (state) await s.restore(state);
    return s;
  }

  /** This epoch's shard order: derived from seed and epoch, so it never needs saving. */
  private order(epoch: number): number[] {
    const idx = [...this.files.keys()];
    return this.o.shuffleShards ? Rng.seeded(this.o.seed * 1_000_003 + epoch).shuffle(idx) : idx;
  }

  private get shard(): number {
    return this.order(this.epoch)[this.cursor]!;
  }

  /** The next record in read order, moving on to the next shard and epoch as needed. */
  private async read(): Promise<StreamRecord> {
    for (let emptyShards = 0; ; ) {
      this.reader ??= readTfRecords(this.files[this.shard]!, { start: this.offset });
      const r = await this.reader.next();
      if (!r.done) {
        // Copied: a view would keep the reader's whole 4 MiB chunk alive while it sits in the buffer.
        const rec = { shard: this.shard, offset: r.value.offset, data: Buffer.from(r.value.data), epoch: this.epoch };
        this.offset = r.value.offset + r.value.data.length + 16;
        return rec;
      }
      this.reader = undefined;
      this.offset = 0;
      if (++this.cursor === this.files.length) [this.epoch, this.cursor] = [this.epoch + 1, 0];
      if (++emptyShards > this.files.length) throw new Error(`the TFRecord shards hold no records: ${this.files[0]} …`);
    }
  }

  async next(): Promise<StreamRecord> {
    if (this.o.shuffleBuffer <= 1) return this.read();
    while (this.buffer.length < this.o.shuffleBuffer) this.buffer.push(await this.read());
    const j = this.rng.int(0, this.buffer.length - 1);
    const out = this.buffer[j]!;
    this.buffer[j] = await this.read();
    return { ...out, epoch: this.epoch };
  }

  state(): StreamState {
    return { epoch: this.epoch, cursor: this.cursor, offset: this.offset, buffer: this.buffer.map((h) => [h.shard, h.offset]), rng: this.rng.state() };
  }

  private async restore(s: StreamState): Promise<void> {
    [this.epoch, this.cursor, this.offset] = [s.epoch, s.cursor, s.offset];
    this.rng = Rng.fromState(s.rng);
    const handles = new Map<number, FileHandle>();
    try {
      for (const [shard, offset] of s.buffer) {
        if (!handles.has(shard)) handles.set(shard, await open(this.files[shard]!, 'r'));
        this.buffer.push({ shard, offset, data: await readTfRecordAt(handles.get(shard)!, this.files[shard]!, offset) });
      }
    } finally {
      await Promise.all([...handles.values()].map((h) => h.close()));
    }
  }

  async close(): Promise<void> {
    await this.reader?.return(undefined);
  }
}
