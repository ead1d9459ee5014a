// Data-parallel training over replica processes with central storage, as the original's model C
// did with tf.distribute (variables on the CPU, one replica per GPU): this process holds the
// variables and the optimizer; each step every replica gets the current weights and its share of
// the global batch, returns gradients and its moving statistics; here they are averaged, the
// regularization gradient is added once, and the update applied. Batch statistics are each
// replica's own, as in the original.
//
// Transport: one Unix domain socket per replica for control frames and its share of the pixels
// (wire.ts); weights and gradients through files in shared memory (shm.ts): each replica writes
// its gradients into its own file, the coordinator's worker threads average and apply them and
// write the new weights into the one weights file every replica reads (shared-update.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Tf } from '../backend/tf.js';
import type { FaceModel } from '../model/model.js';
import type { Sgd, SgdConfig } from '../train/optimizer.js';
import type { MicroBatch, StepStats } from '../train/step.js';
import { layoutOf, type GradsMeta, type InitMeta, type Layout, type StepMeta } from './protocol.js';
import { SharedUpdate } from './shared-update.js';
import { makeShmFolder, removeShmFolder, ShmFile } from './shm.js';
import { FrameReader, sendFrame } from './wire.js';

const MAIN = fileURLToPath(new URL('./replica-main.js', import.meta.url));
const START_TIMEOUT_MS = 180_000;

export interface ReplicaOptions {
  replicas: number;
  log(line: string): void;
}

/** Where a step's time went, in milliseconds, and the bytes it moved (all replicas together). */
export interface StepTiming {
  /** From sending the step to the last gradient received. */
  roundTripMs: number;
  /** The slowest replica's gradient computation. */
  computeMs: number;
  /** Averaging, the update and writing the new weights (SharedUpdate), here. */
  updateMs: number;
  /** The slowest replica's reading and assigning of the weights, and writing of its gradients. */
  loadMs: number;
  writeMs: number;
  bytesSent: number;
  bytesReceived: number;
}

interface Replica {
  index: number;
  device: string;
  child: ChildProcess;
  /** The file its gradients and moving statistics arrive in. */
  grads: ShmFile;
  sock?: Socket;
  reader?: FrameReader;
  stderr: string[];
  /** Rejects once the process has exited or its connection failed. */
  dead: Promise<never>;
}

export class ReplicaSet {
  private weightsSent = false;
  private closing = false;
  readonly timings: StepTiming[] = [];

  private constructor(private readonly tf: Tf, private readonly model: FaceModel, private readonly opt: Sgd, private readonly layout: Layout, private readonly replicas: Replica[], private readonly server: Server, private readonly socketPath: string, private readonly weights: ShmFile, private readonly shmDir: string, private readonly update: SharedUpdate) {}

  /**
   * Starts `replicas` processes, each building `model`'s architecture, and waits until all are
   * ready. From then on the weights and the optimizer's momentum live in shared arrays: `store()`
   * puts them back into `model` and `opt` for whoever reads those (checkpoints, evaluation).
   */
  static async start(tf: Tf, model: FaceModel, opt: Sgd, sgd: SgdConfig, o: ReplicaOptions): Promise<ReplicaSet> {
    // Unix socket paths are limited to ~107 bytes: the temp folder, not the (deep) work folder.
    const socketPath = path.join(os.tmpdir(), `facepipe-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    const threads = process.env.TF_NUM_INTRAOP_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / o.replicas)));
    const devices = (process.env.CUDA_VISIBLE_DEVICES ?? '').split(',').map((d) => d.trim()).filter((d) => d !== '');
    if (devices.length > 0 && devices.length < o.replicas) o.log(`warning: ${o.replicas} replicas but CUDA_VISIBLE_DEVICES lists ${devices.length} devices: some share a device`);
    const layout = layoutOf(model);
    const shmDir = await makeShmFolder(layout.bytes * (o.replicas + 1));
    const weights = ShmFile.create(path.join(shmDir, 'weights'), layout.bytes);
    const replicas: Replica[] = [];
    for (let index = 0; index < o.replicas; index++) {
      const device = devices.length > 0 ? devices[index % devices.length]! : String(index);
      const child = spawn(process.execPath, [MAIN], {
        env: { ...process.env, FACEPIPE_REPLICA_SOCKET: socketPath, FACEPIPE_REPLICA_INDEX: String(index), CUDA_VISIBLE_DEVICES: device, TF_NUM_INTRAOP_THREADS: threads },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const grads = ShmFile.create(path.join(shmDir, `grads-${index}`), layout.bytes);
      const r: Replica = { index, device, child, grads, stderr: [], dead: undefined as unknown as Promise<never> };
      for (const s of [child.stdout!, child.stderr!]) {
        createInterface({ input: s }).on('line', (line) => {
          o.log(`[replica ${index}] ${line}`);
          if (s === child.stderr) r.stderr = [...r.stderr.slice(-19), line];
        });
      }
      r.dead = new Promise<never>((_, reject) => {
        child.once('exit', (code, signal) => reject(new ReplicaDied(index, child.pid, signal ?? `exit code ${code}`, r.stderr)));
        child.once('error', (e) => reject(new ReplicaDied(index, child.pid, e.message, r.stderr)));
      });
      r.dead.catch(() => undefined);
      replicas.push(r);
    }
    const update = SharedUpdate.forModel(model, layout, o.replicas, sgd, weights.fd);
    update.load(opt);
    const set = new ReplicaSet(tf, model, opt, layout, replicas, server, socketPath, weights, shmDir, update);
    try {
      await set.connect(o.log);
    } catch (e) {
      await set.close();
      throw e;
    }
    return set;
  }

  private async connect(log: (line: string) => void): Promise<void> {
    const connected = new Promise<void>((resolve, reject) => {
      let pending = this.replicas.length;
      this.server.on('connection', (sock) => {
        const reader = new FrameReader(sock, 'a replica');
        reader.next().then((hello) => {
          const r = this.replicas[hello.meta.index as number];
          if (hello.kind !== 'hello' || !r || r.sock) throw new Error(`an unexpected connection to the replica socket (${hello.kind} ${JSON.stringify(hello.meta)})`);
          Object.assign(r, { sock, reader });
          if (--pending === 0) resolve();
        }).catch(reject);
      });
    });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the replicas did not connect within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS).unref());
    await Promise.race([connected, timeout, ...this.replicas.map((r) => r.dead)]);
    await Promise.all(this.replicas.map((r) => sendFrame(r.sock!, 'init', { model: this.model.config, weights: this.weights.file, grads: r.grads.file } satisfies InitMeta)));
    const ready = await this.all((r) => r.reader!.next());
    ready.forEach((f, i) => {
      if (f.kind !== 'ready') throw new Error(`replica ${i}: expected 'ready', got '${f.kind}' ${JSON.stringify(f.meta)}`);
      log(`replica ${i}: pid ${f.meta.pid as number}, backend ${f.meta.backend as string} (${f.meta.package as string}), CUDA_VISIBLE_DEVICES=${this.replicas[i]!.device}`);
    });
    // Every process has its files open: unlinked now, the shared memory is freed with the last of
    // them, even if this process is killed.
    await removeShmFolder(this.shmDir);
  }

  /** Pids of the replica processes, by index. */
  get pids(): number[] {
    return this.replicas.map((r) => r.child.pid ?? -1);
  }

  /**
   * One optimizer update. `micro` are the global micro-batches (replicas × the per-replica size):
   * micro-batch j's images [r·n/R, (r+1)·n/R) go to replica r.
   */
  async step(micro: readonly MicroBatch[], o: { step: number; seed: number; lr: number; regCoef: number }): Promise<StepStats> {
    try {
      return await this.exchange(micro, o);
    } catch (e) {
      throw await this.explain(e as Error);
    }
  }

  /** A broken connection (ECONNRESET, EPIPE) usually means its process died: wait a moment for
   *  the exit, which says which replica and how, and report that instead. */
  private async explain(e: Error): Promise<Error> {
    if (e instanceof ReplicaDied) return e;
    const died = await Promise.race([
      ...this.replicas.map((r) => r.dead.catch((d: unknown) => d as Error)),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref()),
    ]);
    return died ?? e;
  }

  private async exchange(micro: readonly MicroBatch[], o: { step: number; seed: number; lr: number; regCoef: number }): Promise<StepStats> {
    const R = this.replicas.length;
    const bytes = this.layout.bytes;
    const size = this.model.config.backbone.inputSize;
    const px = size * size * 3;
    let bytesSent = 0;
    if (!this.weightsSent) {
      await this.update.writeAll();
      bytesSent += await this.announceWeights();
    }
    const t0 = performance.now();
    const sent = this.replicas.map((r) => {
      const parts: ArrayBufferView[] = [];
      const counts = micro.map((b) => {
        if (b.n % R !== 0) throw new Error(`a global batch of ${b.n} does not split over ${R} replicas`);
        const n = b.n / R;
        parts.push(b.images.subarray(r.index * n * px, (r.index + 1) * n * px), b.labels.subarray(r.index * n, (r.index + 1) * n));
        return n;
      });
      const meta: StepMeta = { step: o.step, seed: o.seed, firstMicro: r.index * micro.length, micro: counts };
      return sendFrame(r.sock!, 'step', meta, parts);
    });
    bytesSent += (await Promise.all(sent)).reduce((a, b) => a + b, 0);
    const frames = await this.all(async (r) => {
      const f = await r.reader!.next();
      if (f.kind === 'error') throw new Error(`replica ${r.index} failed: ${f.meta.message as string}`);
      if (f.kind !== 'grads') throw new Error(`replica ${r.index}: expected 'grads', got '${f.kind}'`);
      await r.grads.readAll(this.update.grads[r.index]!);
      return f;
    });
    const t1 = performance.now();
    const metas = frames.map((f) => f.meta as unknown as GradsMeta);
    // Averaging, the L2 gradient (counted once), the update and writing the new weights: one pass.
    const reg = await this.update.step(o.lr, o.regCoef);
    const t2 = performance.now();
    bytesSent += await this.announceWeights();
    const avg = (k: 'inferenceLoss' | 'accuracy' | 'accuracyCos') => metas.reduce((a, m) => a + m[k], 0) / R;
    // As the in-process step: no L2 term at all when its coefficient has decayed to 0.
    const regularizationLoss = o.regCoef !== 0 ? reg : 0;
    const inferenceLoss = avg('inferenceLoss');
    const slowest = (k: 'computeMs' | 'loadMs' | 'writeMs') => Math.max(...metas.map((m) => m[k]));
    this.timings.push({ roundTripMs: t1 - t0, computeMs: slowest('computeMs'), loadMs: slowest('loadMs'), writeMs: slowest('writeMs'), updateMs: t2 - t1, bytesSent, bytesReceived: R * bytes });
    return { inferenceLoss, regularizationLoss, accuracy: avg('accuracy'), accuracyCos: avg('accuracyCos'), loss: inferenceLoss + o.regCoef * regularizationLoss };
  }

  /** Puts the current weights, moving statistics and momentum into the model and the optimizer. */
  store(): void {
    this.update.store(this.tf, this.opt);
  }

  /** Tells every replica the weights file holds new weights; the bytes they will read. */
  private async announceWeights(): Promise<number> {
    const n = await Promise.all(this.replicas.map((r) => sendFrame(r.sock!, 'weights', {})));
    this.weightsSent = true;
    return n.reduce((a, b) => a + b, 0) + this.replicas.length * this.layout.bytes;
  }

  /** f for every replica, failing as soon as one replica dies. */
  private all<T>(f: (r: Replica) => Promise<T>): Promise<T[]> {
    return Promise.race([Promise.all(this.replicas.map(f)), ...this.replicas.map((r) => r.dead)]);
  }

  /** Asks every replica to exit, then kills what is left. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const r of this.replicas) {
      if (r.sock && !r.sock.destroyed) await sendFrame(r.sock, 'exit', {}).catch(() => undefined);
    }
    await Promise.all(this.replicas.map(async (r) => {
      if (r.child.exitCode !== null || r.child.signalCode !== null) return;
      const timer = setTimeout(() => r.child.kill('SIGKILL'), 5000);
      await r.dead.catch(() => undefined);
      clearTimeout(timer);
    }));
    for (const r of this.replicas) {
      r.sock?.destroy();
      r.grads.close();
    }
    await this.update.close();
    this.weights.close();
    this.server.close();
    rmSync(this.socketPath, { force: true });
    await removeShmFolder(this.shmDir);
  }

  /** Kills every replica at once (after a failure: their state is of no use). */
  kill(): void {
    for (const r of this.replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  }
}

export class ReplicaDied extends Error {
  constructor(readonly index: number, readonly pid: number | undefined, how: string, stderr: string[]) {
    super(`replica ${index} (pid ${pid ?? '?'}) died: ${how}${stderr.length ? `\n${stderr.slice(-8).map((l) => `  | ${l}`).join('\n')}` : ''}`);
    this.name = 'ReplicaDied';
  }
}
