// Worker threads that hash many small files: a small file costs five async filesystem round trips
// on the main thread (~60 µs) but ~10 µs with blocking calls on a worker, and workers hash on all
// cores. Files are sent in batches so that messaging stays cheap next to the work.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Hashed } from './hash-file.js';

export interface BatchRequest {
  id: number;
  files: Array<{ real: string; shown: string }>;
}
export type BatchResult = { ok: true; hashed: Hashed } | { ok: false; message: string; code?: string };
export interface BatchReply {
  id: number;
  results: BatchResult[];
}

export interface PoolFile {
  real: string;
  shown: string;
  size: number;
}

const MAX_BATCH_FILES = 64;
const MAX_BATCH_BYTES = 16 << 20;

interface Job {
  req: BatchRequest;
  resolve(r: BatchResult[]): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export class HashPool {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 0;

  constructor(private readonly size: number) {}

  /** Hashes `files` in order; rejects with the first file's error (its message names the file). */
  async hashMany(files: readonly PoolFile[]): Promise<Hashed[]> {
    const batches = await Promise.all(batchesOf(files).map((b) => this.run(b)));
    return batches.flat().map((r) => {
      if (r.ok) return r.hashed;
      throw Object.assign(new Error(r.message), r.code ? { code: r.code } : {});
    });
  }

  private run(files: PoolFile[]): Promise<BatchResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req: { id: this.nextId++, files: files.map(({ real, shown }) => ({ real, shown })) }, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.job) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) return;
      slot.job = this.queue.shift() as Job;
      // Referenced only while busy: idle workers must not keep the process alive.
      slot.worker.ref();
      slot.worker.postMessage(slot.job.req);
    }
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(new URL('./hash-worker.js', import.meta.url)), job: undefined };
    slot.worker.unref();
    slot.worker.on('message', (reply: BatchReply) => {
      const job = slot.job;
      slot.job = undefined;
      slot.worker.unref();
      job?.resolve(reply.results);
      this.pump();
    });
    const fail = (e: Error): void => {
      this.slots = this.slots.filter((s) => s !== slot);
      slot.job?.reject(e);
      slot.job = undefined;
      this.pump();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`hash worker exited unexpectedly (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}

function batchesOf(files: readonly PoolFile[]): PoolFile[][] {
  const out: PoolFile[][] = [];
  let cur: PoolFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length > 0 && (cur.length >= MAX_BATCH_FILES || bytes + f.size > MAX_BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

let shared: HashPool | undefined;

/** One pool per process, sized to the cores (at least 2, so I/O waits overlap; at most 8). */
export function sharedHashPool(): HashPool {
  shared ??= new HashPool(Math.min(8, Math.max(2, os.availableParallelism())));
  return shared;
}
