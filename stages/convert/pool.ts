// The conversion's worker threads. They are started before the main thread parses the .idx, so
// their start-up (a V8 isolate and the modules each: ~50-100 ms on 2 cores) overlaps it; each
// then gets the job by message and takes shards until none is left.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { StageFailure } from '../../src/stage-api.js';
import type { WorkerJob, WorkerMessage } from './worker.js';

const workerUrl = new URL('./worker.js', import.meta.url);

/** FACEPIPE_WORKERS, else one per core; never more than there are shards. */
export function workerCount(shards: number): number {
  return Math.max(1, Math.min(shards, Number(process.env.FACEPIPE_WORKERS) || availableParallelism()));
}

export class WorkerPool {
  private readonly workers: Worker[];
  private readonly finished: Promise<unknown>;

  /** Starts `n` idle workers; `onMessage` gets their progress, skipped records and finished shards. */
  constructor(n: number, onMessage: (m: WorkerMessage) => void) {
    this.workers = Array.from({ length: n }, () => new Worker(workerUrl));
    this.finished = Promise.all(this.workers.map((w) => settled(w, onMessage)));
    // Awaited in run(); a worker that fails before then must not crash the process meanwhile.
    this.finished.catch(() => undefined);
  }

  /** Hands every worker the job; resolves when all are done, rejects at the first failure (stopping the rest). */
  async run(job: WorkerJob): Promise<void> {
    for (const w of this.workers) w.postMessage(job);
    try {
      await this.finished;
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  stop(): void {
    for (const w of this.workers) void w.terminate();
  }
}

function settled(w: Worker, onMessage: (m: WorkerMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') resolve();
      else if (m.type === 'error') reject(new StageFailure(m.message));
      else onMessage(m);
    });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? undefined : reject(new StageFailure(`a conversion worker stopped (exit code ${code})`))));
  });
}
