// TensorBoard event files: TFRecords of tensorflow.Event (tensorflow/core/util/event.proto):
//   Event{double wall_time=1; int64 step=2; oneof what {string file_version=3; Summary summary=5}}
//   Summary{repeated Value value=1}
//   Value{string tag=1; SummaryMetadata metadata=9; oneof value {float simple_value=2; TensorProto tensor=8}}
// We write scalars as simple_value (what TensorBoard reads most simply); we also read the tensor
// form TF2's tf.summary.scalar writes, so logs of TensorFlow runs can be compared with ours.
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Reader, Writer, type Long } from 'protobufjs/minimal.js';
import { FormatError } from './errors.js';
import { frameTfRecord, readTfRecords, TFRECORD_FRAMING_BYTES, TFRECORD_HEADER_BYTES } from './tfrecord.js';

export const EVENT_FILE_VERSION = 'brain.Event:2';

/** `events.out.tfevents.<unix-seconds>.<host><suffix>`: TensorBoard finds files by "tfevents". */
export function eventFileName(unixSeconds: number, host: string, suffix = ''): string {
  return `events.out.tfevents.${Math.floor(unixSeconds)}.${host}${suffix}`;
}

export interface EventInput {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars?: { tag: string; value: number }[];
}

/** Serializes one Event. Fields go in field-number order; zero wall_time and step are omitted, as proto3 does. */
export function encodeEvent(e: EventInput): Buffer {
  const w = Writer.create();
  if (e.wallTime !== 0) w.uint32(9).double(e.wallTime);
  if (e.step !== undefined && e.step !== 0) {
    if (!Number.isSafeInteger(e.step)) throw new RangeError(`event step must be an integer, got ${e.step}`);
    w.uint32(16).int64(e.step);
  }
  if (e.fileVersion !== undefined) w.uint32(26).string(e.fileVersion);
  if (e.scalars !== undefined) {
    w.uint32(42).fork();
    // simple_value is in a oneof, so it is written even when it is 0.
    for (const s of e.scalars) w.uint32(10).fork().uint32(10).string(s.tag).uint32(21).float(s.value).ldelim();
    w.ldelim();
  }
  return w.finish() as Buffer;
}

export interface EventWriterOptions {
  /** Default: os.hostname(). */
  host?: string;
  /** Appended to the file name, e.g. `.${process.pid}.0`, for several writers started in one second. */
  suffix?: string;
  /** Seconds since the epoch for the file name and the first event (default: now). */
  startTime?: number;
  /** Unflushed events are written at least this often (default 5000 ms). */
  flushIntervalMs?: number;
  /** ... or as soon as this many bytes wait (default 64 KiB). */
  maxPendingBytes?: number;
}

/**
 * Appends scalar events to a new event file. Events wait in memory and go out in whole records
 * with one append per flush, so a crash loses at most the unflushed ones and never damages what
 * is already in the file; the reader ignores a record cut short at the end.
 */
export class EventWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(readonly file: string, private readonly fh: FileHandle, private readonly maxPendingBytes: number, flushIntervalMs: number) {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), flushIntervalMs);
    this.timer.unref(); // a forgotten writer must not keep the process alive
  }

  /** Creates the event file in `dir` and writes its first event (the file version). */
  static async create(dir: string, opts: EventWriterOptions = {}): Promise<EventWriter> {
    const start = opts.startTime ?? Date.now() / 1000;
    const file = path.join(dir, eventFileName(start, opts.host ?? os.hostname(), opts.suffix));
    let fh: FileHandle;
    try {
      fh = await fs.open(file, 'ax'); // append-only; never reuse an existing file
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      throw new Error(`${file} already exists: another event writer started in the same second on this host; pass a distinct 'suffix'`);
    }
    const w = new EventWriter(file, fh, opts.maxPendingBytes ?? 64 << 10, opts.flushIntervalMs ?? 5000);
    w.append(encodeEvent({ wallTime: start, fileVersion: EVENT_FILE_VERSION }));
    await w.flush();
    return w;
  }

  /** Records `value` for `tag` at `step`; `wallTime` in seconds since the epoch (default now). */
  scalar(tag: string, value: number, step: number, wallTime = Date.now() / 1000): void {
    if (this.closed) throw new Error(`${this.file}: scalar() after close()`);
    if (this.failure !== undefined) throw this.failure;
    this.append(encodeEvent({ wallTime, step, scalars: [{ tag, value }] }));
    if (this.pendingBytes >= this.maxPendingBytes) void this.flush().catch(() => undefined);
  }

  /** Writes every event recorded so far. */
  flush(): Promise<void> {
    const out = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (out.length > 0) {
      this.chain = this.chain.then(async () => {
        if (this.failure !== undefined) return;
        for (let done = 0; done < out.length; ) done += (await this.fh.write(out, done)).bytesWritten;
      }).catch((e: unknown) => void (this.failure ??= e));
    }
    return this.chain.then(() => {
      if (this.failure !== undefined) throw this.failure;
    });
  }

  /** Flushes, syncs and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try {
      await this.flush();
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  private append(event: Buffer): void {
    const rec = Buffer.allocUnsafe(event.length + TFRECORD_FRAMING_BYTES);
    frameTfRecord(rec, 0, event);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
  }
}

export interface ScalarEvent {
  tag: string;
  step: number;
  value: number;
  /** Seconds since the epoch. */
  wallTime: number;
}

/**
 * Every scalar in an event file, in file order: simple_value ones, and tensor ones whose tag the
 * "scalars" plugin owns (some writers, e.g. TF1's FileWriter, name the plugin only in the first
 * event of each tag). A record cut
 * short at the end (a writer still running, or one that crashed) is ignored.
 */
export async function readScalars(file: string): Promise<ScalarEvent[]> {
  const out: ScalarEvent[] = [];
  const plugins = new Map<string, string>();
  for await (const { offset, data } of readTfRecords(file, { truncatedTail: 'stop' })) {
    const r = Reader.create(data);
    try {
      readEvent(r, plugins, out);
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(`not a valid tensorflow.Event (${(e as Error).message}); the file is corrupt or not an event file`, file, offset + TFRECORD_HEADER_BYTES + r.pos);
    }
  }
  return out;
}

function readEvent(r: Reader, plugins: Map<string, string>, out: ScalarEvent[]): void {
  let wallTime = 0;
  let step = 0;
  const values: { tag: string; value: number }[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 9) wallTime = r.double();
    else if (tag === 16) step = longToNumber(r.int64());
    else if (tag === 42) readMessage(r, (t) => (t === 10 ? readValue(r, plugins, values) : false));
    else r.skipType(tag & 7);
  }
  for (const v of values) out.push({ tag: v.tag, step, value: v.value, wallTime });
}

/** Reads a length-delimited message, handing each field tag to `field`; false means skip it. */
function readMessage(r: Reader, field: (tag: number) => boolean | void): void {
  const end = r.uint32() + r.pos;
  if (end > r.len) throw new Error(`a message runs past the end of the record (${end} > ${r.len})`);
  while (r.pos < end) {
    const tag = r.uint32();
    if (field(tag) === false) r.skipType(tag & 7);
  }
  if (r.pos !== end) throw new Error(`a message ends at byte ${r.pos}, not at its declared end ${end}`);
}

function readValue(r: Reader, plugins: Map<string, string>, out: { tag: string; value: number }[]): void {
  let tag = '';
  let simple: number | undefined;
  let tensor: number | undefined;
  let plugin: string | undefined;
  readMessage(r, (t) => {
    if (t === 10) tag = r.string();
    else if (t === 21) simple = r.float();
    else if (t === 66) tensor = readScalarTensor(r);
    else if (t === 74) plugin = readPluginName(r);
    else return false;
  });
  if (plugin !== undefined && !plugins.has(tag)) plugins.set(tag, plugin);
  const value = simple ?? (plugins.get(tag) === 'scalars' ? tensor : undefined);
  if (value !== undefined) out.push({ tag, value });
}

/** SummaryMetadata{PluginData plugin_data=1}, PluginData{string plugin_name=1}. */
function readPluginName(r: Reader): string | undefined {
  let name: string | undefined;
  readMessage(r, (t) => {
    if (t !== 10) return false;
    readMessage(r, (p) => {
      if (p !== 10) return false;
      name = r.string();
    });
  });
  return name;
}

// TensorProto: dtype=1, tensor_content=4 (raw little-endian), float_val=5, double_val=6,
// int_val=7, int64_val=10 (numeric lists packed or not).
/** The single number a scalar TensorProto holds, or undefined for anything else. */
function readScalarTensor(r: Reader): number | undefined {
  let dtype = 0;
  let content: Buffer | undefined;
  const vals: number[] = [];
  readMessage(r, (t) => {
    if (t === 8) dtype = r.int32();
    else if (t === 34) content = r.bytes() as Buffer;
    else if (t === 42) r.floats(vals);
    else if (t === 45) vals.push(r.float());
    else if (t === 50) r.doubles(vals);
    else if (t === 49) vals.push(r.double());
    else if (t === 58) r.int32s(vals);
    else if (t === 56) vals.push(r.int32());
    else if (t === 82) for (const v of r.int64s()) vals.push(longToNumber(v));
    else if (t === 80) vals.push(longToNumber(r.int64()));
    else return false;
  });
  if (content === undefined) return vals.length === 1 ? vals[0] : undefined;
  return fromTensorContent(dtype, content);
}

/** protobufjs gives int64s as two signed 32-bit halves; steps and scalars fit in a double. */
function longToNumber(l: Long | number): number {
  return typeof l === 'number' ? l : l.high * 2 ** 32 + (l.low >>> 0);
}

function fromTensorContent(dtype: number, b: Buffer): number | undefined {
  switch (dtype) {
    case 1: // DT_FLOAT
      return b.length === 4 ? b.readFloatLE(0) : undefined;
    case 2: // DT_DOUBLE
      return b.length === 8 ? b.readDoubleLE(0) : undefined;
    case 3: // DT_INT32
      return b.length === 4 ? b.readInt32LE(0) : undefined;
    case 9: // DT_INT64
      return b.length === 8 ? Number(b.readBigInt64LE(0)) : undefined;
    default:
      return undefined;
  }
}
