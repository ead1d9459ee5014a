// A dataset split over N TFRecord files named as TensorFlow names shards, so tf.data and other
// tools pick the set up by pattern: `<prefix>-00000-of-00008.tfrecord`.
import { rm } from 'node:fs/promises';
import { FormatError } from './errors.js';
import { TfRecordWriter, type RecordData, type TfRecordFileStats, type TfRecordWriterOptions } from './tfrecord.js';

/** Shard counts are written with 5 digits, as TensorFlow does. */
export const MAX_SHARDS = 99_999;

/** `<prefix>-<index>-of-<count>.tfrecord`, both numbers zero-padded to 5 digits. */
export function shardFileName(prefix: string, index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}-${pad(index)}-of-${pad(count)}.tfrecord`;
}

export interface ShardedStats {
  /** Per shard, in shard order. */
  shards: TfRecordFileStats[];
  records: number;
  bytes: number;
}

/**
 * Writes records to `count` shards, round-robin or to a shard the caller picks. No shard appears
 * under its final name until `close()` has written and synced every one of them; then all are
 * renamed. A crash during those renames can leave only some of them: the set is complete exactly
 * when all `count` names (the count is in each name) exist.
 */
export class TfRecordShardWriter {
  private nextShard = 0;

  private constructor(private readonly writers: TfRecordWriter[]) {}

  static async create(prefix: string, count: number, opts: TfRecordWriterOptions = {}): Promise<TfRecordShardWriter> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) {
      throw new FormatError(`shard count must be an integer from 1 to ${MAX_SHARDS}, got ${count}`, prefix);
    }
    // Two buffers per shard: keep the total near 32 MiB however many shards there are.
    const bufferSize = opts.bufferSize ?? Math.max(64 << 10, Math.min(1 << 20, Math.floor((16 << 20) / count)));
    const writers: TfRecordWriter[] = [];
    try {
      for (let i = 0; i < count; i++) writers.push(await TfRecordWriter.create(shardFileName(prefix, i, count), { ...opts, bufferSize }));
    } catch (e) {
      await Promise.all(writers.map((w) => w.abort()));
      throw e;
    }
    return new TfRecordShardWriter(writers);
  }

  /** The final names of the shards, in shard order. */
  get files(): string[] {
    return this.writers.map((w) => w.file);
  }

  /** Appends a record to shard `shard`, or to the next one in round-robin order when omitted. */
  write(data: RecordData, shard?: number): Promise<void> {
    let i = shard;
    if (i === undefined) {
      i = this.nextShard;
      this.nextShard = (i + 1) % this.writers.length;
    }
    const w = this.writers[i];
    if (w === undefined || !Number.isInteger(i)) {
      return Promise.reject(new RangeError(`shard index ${i} is out of range: there are ${this.writers.length} shards (0..${this.writers.length - 1})`));
    }
    return w.write(data);
  }

  /**
   * Finishes every shard, then renames them all into place. On failure it removes every shard,
   * renamed ones too: a partial set must not look like a dataset.
   */
  async close(): Promise<ShardedStats> {
    const shards: TfRecordFileStats[] = [];
    try {
      await Promise.all(this.writers.map((w) => w.finish()));
      for (const w of this.writers) shards.push(await w.commit());
    } catch (e) {
      await this.abort();
      await Promise.all(shards.map((s) => rm(s.file, { force: true })));
      throw e;
    }
    return { shards, records: sum(shards.map((s) => s.records)), bytes: sum(shards.map((s) => s.bytes)) };
  }

  /** Drops every shard not yet renamed into place. */
  async abort(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.abort()));
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
