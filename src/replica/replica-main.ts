// A replica process (`replicas: n` in training): one per GPU, started by the coordinator
// (coordinator.ts) with CUDA_VISIBLE_DEVICES set to its device. It holds a copy of the model, gets
// the current weights and its share of each global batch, and sends back its gradients and its
// updated moving statistics. It never updates weights itself: the coordinator holds the variables
// and the optimizer, as TensorFlow's central storage strategy does.
import { connect, type Socket } from 'node:net';
import { loadTf, type Tf } from '../backend/tf.js';
import { createFaceModel, type FaceModel } from '../model/model.js';
import { computeGradients, type MicroBatch } from '../train/step.js';
import { layoutOf, offsets, type GradsMeta, type InitMeta, type StepMeta } from './protocol.js';
import { ShmFile } from './shm.js';
import { FrameReader, sendFrame, type Frame } from './wire.js';

// Ctrl-C reaches the whole process group; the coordinator answers it (a checkpoint after the
// current step, then 'exit'), which needs the replicas alive until then.
process.on('SIGINT', () => undefined);

async function main(): Promise<void> {
  const socketPath = process.env.FACEPIPE_REPLICA_SOCKET;
  const index = Number(process.env.FACEPIPE_REPLICA_INDEX);
  if (!socketPath || !Number.isInteger(index)) throw new Error('a replica is started by the train stage (FACEPIPE_REPLICA_SOCKET and FACEPIPE_REPLICA_INDEX are not set)');
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = connect(socketPath, () => resolve(s));
    s.once('error', reject);
  });
  // The coordinator gone means the stage is over: nothing left to do here.
  sock.on('close', () => process.exit(0));
  const reader = new FrameReader(sock, 'coordinator');
  await sendFrame(sock, 'hello', { index, pid: process.pid });
  const init = await reader.next();
  if (init.kind !== 'init') throw new Error(`expected 'init' from the coordinator, got '${init.kind}'`);
  const meta = init.meta as unknown as InitMeta;
  const { tf, info } = await loadTf({ quiet: true });
  const model = createFaceModel(tf, meta.model);
  const layout = layoutOf(model);
  const weightsFile = ShmFile.open(meta.weights, layout.bytes);
  const grads: GradsOut = { file: ShmFile.open(meta.grads, layout.bytes), place: offsets(layout.grads) };
  await sendFrame(sock, 'ready', { backend: info.backend, package: info.package, pid: process.pid });
  // The variables are assigned views of a weights buffer, which tfjs-node uploads only when an op
  // first reads them: two buffers in turn, so one is overwritten only after the other has replaced
  // every variable.
  const buffers = [Buffer.allocUnsafe(layout.bytes), Buffer.allocUnsafe(layout.bytes)];
  let turn = 0;
  let loadMs = 0;
  try {
    for (;;) {
      const f = await reader.next();
      if (f.kind === 'exit') break;
      if (f.kind === 'weights') {
        const t0 = performance.now();
        const b = await weightsFile.readAll(buffers[turn++ % 2]!);
        setWeights(tf, model, b);
        loadMs = performance.now() - t0;
      } else if (f.kind === 'step') {
        await step(tf, model, sock, f, grads, loadMs);
        reader.release(f.payload);
      } else throw new Error(`unexpected frame '${f.kind}' from the coordinator`);
    }
  } catch (e) {
    await sendFrame(sock, 'error', { message: (e as Error).stack ?? String(e) }).catch(() => undefined);
    throw e;
  }
  model.dispose();
  sock.end();
}

/** `b` holds every parameter, moving statistics first, in layout order (protocol.ts). */
function setWeights(tf: Tf, model: FaceModel, b: Buffer): void {
  const layout = layoutOf(model);
  const views = layout.views(b, layout.weights);
  layout.weights.forEach((p, i) => {
    tf.tidy(() => p.v.assign(tf.tensor(views[i]!, p.spec.shape)));
  });
}

/** Gradients file and where each parameter goes in it. */
interface GradsOut {
  file: ShmFile;
  place: Map<string, number>;
}

async function step(tf: Tf, model: FaceModel, sock: Socket, f: Frame, out: GradsOut, loadMs: number): Promise<void> {
  const m = f.meta as unknown as StepMeta;
  const size = model.config.backbone.inputSize;
  let at = f.payload.byteOffset;
  const micro: MicroBatch[] = m.micro.map((n) => {
    const images = new Float32Array(f.payload.buffer, at, n * size * size * 3);
    at += images.byteLength;
    const labels = new Int32Array(f.payload.buffer, at, n);
    at += labels.byteLength;
    return { n, images, labels };
  });
  const t0 = performance.now();
  const g = computeGradients(tf, model, micro, { step: m.step, seed: m.seed, firstMicro: m.firstMicro });
  const computeMs = performance.now() - t0;
  const layout = layoutOf(model);
  // Gradients, then moving statistics, each into its place in this replica's gradients file.
  try {
    for (const p of layout.trainable) {
      const t = g.grads.get(p.spec.name);
      out.file.writeAt(t ? t.dataSync<'float32'>() : new Float32Array(layout.size(p)), out.place.get(p.spec.name)!);
      t?.dispose();
    }
    for (const p of layout.state) out.file.writeAt(p.v.dataSync<'float32'>(), out.place.get(p.spec.name)!);
  } finally {
    for (const t of g.grads.values()) t.dispose();
  }
  const meta: GradsMeta = { inferenceLoss: g.inferenceLoss, accuracy: g.accuracy, accuracyCos: g.accuracyCos, computeMs, loadMs, writeMs: performance.now() - t0 - computeMs };
  await sendFrame(sock, 'grads', meta);
}

main().catch((e: unknown) => {
  process.stderr.write(`replica ${process.env.FACEPIPE_REPLICA_INDEX}: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
