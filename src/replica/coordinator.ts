// Data-parallel training over replica processes with central storage, as the original's model C
// did with tf.distribute (variables on the CPU, one replica per GPU): this process holds the
// variables and the optimizer; each step every replica gets the current weights and its share of
// the global batch, returns gradients and its moving statistics; here they are averaged, the
// regularization gradient is added once, and the update applied. Batch statistics are each
// replica's own, as in the original.
//
// Transport: one Unix domain socket per replica for control frames and its share of the pixels
// (wire.ts); weights and gradients through files in shared memory (shm.ts): the coordinator
// writes each weight into the one weights file as soon as it is updated, every replica reads it,
// and each replica writes its gradients into its own file.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { FaceModel } from '../model/model.js';
import type { Sgd } from '../train/optimizer.js';
import { applyGradients, type MicroBatch, type StepStats } from '../train/step.js';
import { layoutOf, offsets, type GradsMeta, type InitMeta, type Layout, type StepMeta } from './protocol.js';
import { makeShmFolder, removeShmFolder, ShmFile } from './shm.js';
import { FrameReader, sendFrame } from './wire.js';

const MAIN = fileURLToPath(new URL('./replica-main.js', import.meta.url));
const START_TIMEOUT_MS = 180_000;

export interface ReplicaOptions {
  replicas: number;
  log(line: string): void;
  /** Extra environment for every replica. */
  env?: Record<string, string>;
}

/** Where a step's time went, in milliseconds, and the bytes it moved (all replicas together). */
export interface StepTiming {
  /** From sending the step to the last gradient received. */
  roundTripMs: number;
  /** The slowest replica's gradient computation. */
  computeMs: number;
  /** Averaging the gradients and statistics, here. */
  reduceMs: number;
  /** The update and handing the new weights to the sockets. */
  updateMs: number;
  bytesSent: number;
  bytesReceived: number;
}

interface Replica {
  index: number;
  device: string;
  child: ChildProcess;
  /** The file its gradients and moving statistics arrive in, and the buffer they are read into. */
  grads: ShmFile;
  gradsBuffer: Buffer;
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

  private readonly weightsAt: Map<string, number>;

  private constructor(private readonly tf: Tf, private readonly model: FaceModel, private readonly layout: Layout, private readonly replicas: Replica[], private readonly server: Server, private readonly socketPath: string, private readonly weights: ShmFile, private readonly shmDir: string) {
    this.weightsAt = offsets(layout.weights);
  }

  /** Starts `replicas` processes, each building `model`'s architecture, and waits until all are ready. */
  static async start(tf: Tf, model: FaceModel, o: ReplicaOptions): Promise<ReplicaSet> {
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
        env: { ...process.env, ...o.env, FACEPIPE_REPLICA_SOCKET: socketPath, FACEPIPE_REPLICA_INDEX: String(index), CUDA_VISIBLE_DEVICES: device, TF_NUM_INTRAOP_THREADS: threads },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const grads = ShmFile.create(path.join(shmDir, `grads-${index}`), layout.bytes);
      const r: Replica = { index, device, child, grads, gradsBuffer: Buffer.allocUnsafe(layout.bytes), stderr: [], dead: undefined as unknown as Promise<never> };
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
    const set = new ReplicaSet(tf, model, layout, replicas, server, socketPath, weights, shmDir);
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
  async step(opt: Sgd, micro: readonly MicroBatch[], o: { step: number; seed: number; lr: number; regCoef: number }): Promise<StepStats> {
    try {
      return await this.exchange(opt, micro, o);
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

  private async exchange(opt: Sgd, micro: readonly MicroBatch[], o: { step: number; seed: number; lr: number; regCoef: number }): Promise<StepStats> {
    const R = this.replicas.length;
    const bytes = this.layout.bytes;
    const size = this.model.config.backbone.inputSize;
    const px = size * size * 3;
    let bytesSent = 0;
    if (!this.weightsSent) {
      for (const p of this.layout.weights) this.weights.writeAt(p.v.dataSync<'float32'>(), this.weightsAt.get(p.spec.name)!);
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
      await r.grads.readAll(r.gradsBuffer);
      return f;
    });
    const t1 = performance.now();
    const metas = frames.map((f) => f.meta as unknown as GradsMeta);
    const mean = average(this.replicas.map((r) => r.gradsBuffer), R);
    const t2 = performance.now();
    const stats = this.update(opt, mean, metas, o);
    bytesSent += await this.announceWeights();
    const t3 = performance.now();
    this.timings.push({ roundTripMs: t1 - t0, computeMs: Math.max(...metas.map((m) => m.computeMs)), reduceMs: t2 - t1, updateMs: t3 - t2, bytesSent, bytesReceived: R * bytes });
    return stats;
  }

  /** Applies the averaged gradients (views into `mean`) and moving statistics, writing each new
   *  value into the weights file as soon as it exists. */
  private update(opt: Sgd, mean: Buffer, metas: GradsMeta[], o: { lr: number; regCoef: number }): StepStats {
    const { tf, layout } = this;
    const views = layout.views(mean, layout.grads);
    const byName = new Map(layout.grads.map((p, i) => [p.spec.name, views[i]!]));
    // Copies: tfjs-node keeps the array a tensor is made from, uploading it only when an op first
    // needs it, and `mean` is reused for the next step's gradients. The moving statistics may wait
    // for a checkpoint; the gradients below are consumed by the update right away.
    for (const p of layout.state) {
      const v = byName.get(p.spec.name)!;
      tf.tidy(() => p.v.assign(tf.tensor(v.slice(), p.spec.shape)));
      this.weights.writeAt(v, this.weightsAt.get(p.spec.name)!);
    }
    const grads = new Map<string, Tensor>(layout.trainable.map((p) => [p.spec.name, tf.tensor(byName.get(p.spec.name)!, p.spec.shape)]));
    const R = metas.length;
    const avg = (k: 'inferenceLoss' | 'accuracy' | 'accuracyCos') => metas.reduce((a, m) => a + m[k], 0) / R;
    return applyGradients(tf, this.model, opt, { grads, inferenceLoss: avg('inferenceLoss'), accuracy: avg('accuracy'), accuracyCos: avg('accuracyCos') }, {
      lr: o.lr,
      regCoef: o.regCoef,
      onUpdated: (p) => this.weights.writeAt(p.v.dataSync<'float32'>(), this.weightsAt.get(p.spec.name)!),
    });
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

/** Element-wise mean of equal-sized float32 buffers, written into the first one; the division is
 *  folded into the last addition, so it is one pass over memory per extra replica. */
function average(buffers: Buffer[], R: number): Buffer {
  const f32 = (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const acc = f32(buffers[0]!);
  if (R === 1) return buffers[0]!;
  for (let k = 1; k < R; k++) {
    const x = f32(buffers[k]!);
    if (k < R - 1) for (let i = 0; i < acc.length; i++) acc[i]! += x[i]!;
    else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + x[i]!) / R;
  }
  return buffers[0]!;
}

export class ReplicaDied extends Error {
  constructor(readonly index: number, readonly pid: number | undefined, how: string, stderr: string[]) {
    super(`replica ${index} (pid ${pid ?? '?'}) died: ${how}${stderr.length ? `\n${stderr.slice(-8).map((l) => `  | ${l}`).join('\n')}` : ''}`);
    this.name = 'ReplicaDied';
  }
}
