// Multi-replica training (issue: model C): step time for 1 vs 2 replicas on the tiny and on the
// r50 network with the 85,742-class head, the step split into the slowest replica's compute and
// the rest (moving weights, gradients and pixels, averaging, the update), against baselines taken
// in the same run: the 1-replica in-process step on the same global batch, and the raw speed of
// the transport (one r50-sized frame through a Unix socket). Then the transfer share projected to
// 3 replicas on P100-class GPUs, with the assumptions printed.
// Run: `npm run bench -- replicas` or `node dist/bench/index.js replicas`.
// FACEPIPE_BENCH_R50_BATCH (default 8) sets the r50 global batch: memory, not speed, limits it here.
import { createServer, connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadTf, type Tf } from '../src/backend/tf.js';
import { countParams } from '../src/model/params.js';
import { createFaceModel } from '../src/model/model.js';
import { backboneParams } from '../src/model/iresnet.js';
import { headParams } from '../src/model/head.js';
import { ReplicaSet } from '../src/replica/coordinator.js';
import { makeShmFolder, removeShmFolder, ShmFile } from '../src/replica/shm.js';
import { replicaSummary } from '../src/replica/summary.js';
import { FrameReader, sendFrame } from '../src/replica/wire.js';
import { resolveTrainConfig, type TrainConfig, type TrainParams } from '../src/train/config.js';
import { Sgd } from '../src/train/optimizer.js';
import { trainStep, type MicroBatch } from '../src/train/step.js';
import { median, type BenchResult } from './timing.js';

const R50_BATCH = Number(process.env.FACEPIPE_BENCH_R50_BATCH ?? 8);
const STEPS = 4;

function synthetic(n: number, size: number, classes: number): MicroBatch {
  return { n, images: new Float32Array(n * size * size * 3).map((_, i) => Math.sin(i * 0.01)), labels: new Int32Array(n).map((_, i) => (i * 7919) % classes) };
}

/** Median ms of steps 2..STEPS of the in-process step. */
function oneReplica(tf: Tf, cfg: TrainConfig, b: MicroBatch): number {
  const m = createFaceModel(tf, cfg.model, { seed: 1 });
  const opt = new Sgd(tf, m.params.trainable(), cfg.sgd);
  const ms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t0 = performance.now();
    trainStep(tf, m, opt, [b], { lr: 0.01, step: s, seed: 1, regCoef: 1 });
    ms.push(performance.now() - t0);
  }
  opt.dispose();
  m.dispose();
  return median(ms.slice(1));
}

async function twoReplicas(tf: Tf, cfg: TrainConfig, b: MicroBatch) {
  const m = createFaceModel(tf, cfg.model, { seed: 1 });
  const opt = new Sgd(tf, m.params.trainable(), cfg.sgd);
  const set = await ReplicaSet.start(tf, m, opt, cfg.sgd, { replicas: 2, log: () => undefined });
  try {
    for (let s = 0; s < STEPS; s++) await set.step([b], { lr: 0.01, step: s, seed: 1, regCoef: 1 });
    return replicaSummary(set.timings);
  } finally {
    await set.close();
    opt.dispose();
    m.dispose();
  }
}

/** GB/s of one frame of `bytes` float32 through a Unix socket, receiver copying it out: the
 *  transport the first version used, for comparison. */
async function socketSpeed(bytes: number): Promise<number> {
  const file = path.join(os.tmpdir(), `facepipe-bench-${process.pid}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = await new Promise<Socket>((r) => { const s = connect(file, () => r(s)); });
  const reader = new FrameReader(await accepted, 'bench');
  const data = new Float32Array(bytes / 4).fill(1);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const [, f] = await Promise.all([sendFrame(a, 'grads', {}, [data]), reader.next()]);
    times.push(performance.now() - t0);
    reader.release(f.payload);
  }
  a.destroy();
  server.close();
  rmSync(file, { force: true });
  return bytes / 1e9 / (median(times) / 1000);
}

/** GB/s writing and reading `bytes` through a shared-memory file, as the replicas do. */
async function shmSpeed(bytes: number): Promise<{ write: number; read: number }> {
  const dir = await makeShmFolder(bytes);
  const f = ShmFile.create(path.join(dir, 'bench'), bytes);
  const data = new Float32Array(bytes / 4).fill(1);
  const into = Buffer.allocUnsafe(bytes);
  const [w, r]: number[][] = [[], []];
  for (let i = 0; i < 3; i++) {
    let t0 = performance.now();
    f.writeAt(data, 0);
    w.push(performance.now() - t0);
    t0 = performance.now();
    await f.readAll(into);
    r.push(performance.now() - t0);
  }
  f.close();
  await removeShmFolder(dir);
  return { write: bytes / 1e9 / (median(w) / 1000), read: bytes / 1e9 / (median(r) / 1000) };
}

export async function benchReplicas(): Promise<BenchResult> {
  const { tf } = await loadTf({ quiet: true });
  const rows: [string, number][] = [];
  const ratios: [string, number][] = [];
  const nets: [string, TrainParams, number, number][] = [
    ['tiny (r18 widths 8-32, 32 px, 100 classes)', { data: '', steps: 1, model: { depth: 18, widths: [8, 16, 16, 32], stem: 8, input_size: 32, embedding: 32 } }, 100, 32],
    [`r50, 112 px, 85,742 classes, global batch ${R50_BATCH}`, { data: '', steps: 1, model: { depth: 50 } }, 85_742, R50_BATCH],
  ];
  let r50: ReturnType<typeof replicaSummary> | undefined;
  for (const [name, params, classes, batch] of nets) {
    const cfg = resolveTrainConfig(params, classes);
    const b = synthetic(batch, cfg.model.backbone.inputSize, classes);
    const one = oneReplica(tf, cfg, b);
    const two = await twoReplicas(tf, cfg, b);
    rows.push([`${name}: 1 replica (in-process) step`, one]);
    rows.push([`${name}: 2 replicas step`, two.stepMs]);
    rows.push([`  of which the slowest replica's compute`, two.computeMs]);
    rows.push([`  of which transfer, waiting, averaging, update (${((two.bytesSent + two.bytesReceived) / 1e6).toFixed(1)} MB moved)`, two.overheadMs]);
    rows.push([`    averaging, update and writing the weights (coordinator)`, two.updateMs]);
    rows.push([`    weights into TensorFlow (replica: file read, assign)`, two.loadMs]);
    rows.push([`    gradients out of TensorFlow (replica: dataSync, file write)`, two.writeMs]);
    ratios.push([`${name}: 2-replica step / 1-replica step`, two.stepMs / one]);
    ratios.push([`${name}: transfer and coordination share of a 2-replica step`, two.overheadShare]);
    if (classes > 1000) r50 = two;
  }
  // Projection: r50 + 85,742-class head, 3 replicas on P100-class GPUs, global batch 3 × 128.
  const cfg = resolveTrainConfig({ data: '', steps: 1, model: { depth: 50 } }, 85_742);
  const backbone = countParams(backboneParams(cfg.model.backbone));
  const head = countParams(headParams(cfg.model.head!, cfg.model.backbone.embedding));
  const allBytes = 4 * (backbone.trainable + backbone.state + head.trainable);
  const backboneBytes = 4 * (backbone.trainable + backbone.state);
  const socket = await socketSpeed(allBytes);
  const shm = await shmSpeed(allBytes);
  rows.push([`one r50 + head frame (${(allBytes / 1e6).toFixed(0)} MB) through a Unix socket: ${socket.toFixed(2)} GB/s`, (allBytes / 1e9 / socket) * 1000]);
  rows.push([`the same through a shared-memory file: write ${shm.write.toFixed(2)} GB/s`, (allBytes / 1e9 / shm.write) * 1000]);
  rows.push([`  read ${shm.read.toFixed(2)} GB/s`, (allBytes / 1e9 / shm.read) * 1000]);
  ratios.push(['shared-memory file (write + read) / Unix socket speed', (1 / socket) / (1 / shm.write + 1 / shm.read)]);
  if (r50) {
    // Assumptions, stated: a P100 does r50 forward+backward at ~180 img/s at 112 px (≈ 3 × 6.3
    // GFLOP per image at ~60% of its 9.3 TFLOP/s fp32), so a 128-image share takes ~0.71 s. The
    // CPU-side costs are the ones measured above, scaled by bytes: the coordinator's one pass over
    // memory (R gradients, W and V read; V, W and the file written: R + 4 streams, from R = 2 to
    // 3) plus reading 3 gradient files; a replica's weights in and gradients out of TensorFlow as
    // measured (there, through the host copy of a GPU tensor), plus PCIe 3.0 ×16 (~12 GB/s) each way.
    const compute = 128 / 180;
    const overhead = (bytes: number) => {
      const f = bytes / allBytes;
      const coordinator = (f * r50!.updateMs * (3 + 4)) / (2 + 4) / 1000 + (3 * bytes) / 1e9 / shm.read;
      const replica = (f * (r50!.loadMs + r50!.writeMs)) / 1000 + (2 * bytes) / 12e9;
      return coordinator + replica;
    };
    const central = overhead(allBytes);
    const sharded = overhead(backboneBytes);
    rows.push([`projected, 3 × P100: compute of a 128-image share (assumed 180 img/s)`, compute * 1000]);
    rows.push([`projected, 3 × P100: central storage, weights + head (${(allBytes / 1e6).toFixed(0)} MB each way per replica)`, central * 1000]);
    rows.push([`projected, 3 × P100: class-sharded head, backbone only (${(backboneBytes / 1e6).toFixed(0)} MB)`, sharded * 1000]);
    ratios.push(['projected transfer share of a step, central storage (this build)', central / (central + compute)]);
    ratios.push(['projected transfer share of a step, class-sharded head (partial FC)', sharded / (sharded + compute)]);
    ratios.push(['r50 measured here: transfer share at 2 replicas on 2 CPU cores', r50.overheadShare]);
  }
  return {
    name: `replicas: step time, 1 vs 2 replica processes, ${os.availableParallelism()} cores, medians of steps 2-${STEPS}; r50 params: backbone ${(backbone.trainable / 1e6).toFixed(1)}M + head ${(head.trainable / 1e6).toFixed(1)}M`,
    rows,
    ratios,
    goal: 'the transfer must not dominate a step',
  };
}
