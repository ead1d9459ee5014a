import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTf, type Tf } from '../../src/backend/tf.js';
import { InputPipeline, type InputState } from '../../src/data/input.js';
import { writeNpy } from '../../src/eval/npy.js';
import { saveEmbeddingModel } from '../../src/model/export.js';
import { createFaceModel, type FaceModel } from '../../src/model/model.js';
import { ReplicaDied, ReplicaSet } from '../../src/replica/coordinator.js';
import { replicaSummary } from '../../src/replica/summary.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import { loadLatestCheckpoint, newestCheckpointStep, saveCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig, type TrainConfig, type TrainParams } from '../../src/train/config.js';
import { TrainLog } from '../../src/train/logs.js';
import { PeriodicEval } from '../../src/train/periodic-eval.js';
import { Sgd } from '../../src/train/optimizer.js';
import { learningRate } from '../../src/train/schedule.js';
import { decayRegCoef, trainStep, type MicroBatch, type StepStats } from '../../src/train/step.js';

type Ctx = StageContext<TrainParams>;

/** What a checkpoint holds besides tensors. */
interface LoopState {
  step: number;
  regCoef: number;
  input: InputState;
}

interface Dataset {
  classes: number;
  shards: { file: string; records: number }[];
}

async function readDataset(dir: string): Promise<Dataset> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'dataset.json'), 'utf8')) as Dataset;
  } catch (e) {
    throw new StageFailure(`${dir} is not the output of a convert stage (no readable dataset.json: ${(e as Error).message}) — point data: at \${{ stages.<convert stage>.out }}`);
  }
}

export async function runTrain(ctx: Ctx): Promise<void> {
  const dataDir = path.resolve(ctx.baseDir, ctx.params.data);
  const dataset = await readDataset(dataDir);
  const cfg = resolveTrainConfig(ctx.params, dataset.classes);
  const { tf, info } = await loadTf();
  const model = createFaceModel(tf, cfg.model, { seed: cfg.seed });
  const opt = new Sgd(tf, model.params.trainable(), cfg.sgd);
  const work = ctx.workDir!;
  const resumed = await resume(tf, ctx, model, opt);
  const input = await InputPipeline.open(
    {
      files: dataset.shards.map((s) => path.join(dataDir, s.file)),
      // The global micro-batch: one batch_size share per replica.
      batchSize: cfg.batchSize * cfg.replicas,
      seed: cfg.seed,
      ...cfg.input,
      size: cfg.model.backbone.inputSize,
      workers: 1,
      prefetch: Math.max(2, cfg.accumulate + 1),
    },
    resumed?.input,
  );
  const log = await TrainLog.open(work, resumed?.step ?? 0);
  const evals = ctx.params.eval ? await PeriodicEval.open(ctx.params.eval.bins.map((b) => path.resolve(ctx.baseDir, b))) : undefined;
  const t0 = Date.now();
  let result;
  let replicas: ReplicaSet | undefined;
  try {
    if (cfg.replicas > 1) replicas = await startReplicas(tf, ctx, cfg, model, opt);
    result = await trainLoop(tf, ctx, cfg, model, opt, input, log, resumed, evals, replicas);
  } catch (e) {
    replicas?.kill();
    if (e instanceof ReplicaDied) throw new StageFailure(`${e.message}\n${resumeHint(await newestCheckpointStep(path.join(ctx.workDir!, 'checkpoints')))}`);
    throw e;
  } finally {
    await replicas?.close();
    await log.close();
    await input.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  await writeOutputs(tf, ctx, cfg, model, { ...result, seconds, startStep: resumed?.step ?? 0, backend: info, waitSeconds: input.waitSeconds, replicas: replicas ? replicaSummary(replicas.timings) : null });
  opt.dispose();
  model.dispose();
}

async function resume(tf: Tf, ctx: Ctx, model: FaceModel, opt: Sgd): Promise<LoopState | undefined> {
  const ckpt = await loadLatestCheckpoint<LoopState>(tf, path.join(ctx.workDir!, 'checkpoints'), (m) => ctx.log(`warning: ${m}`));
  if (!ckpt) return undefined;
  try {
    model.setState(ckpt.model);
    opt.setState(ckpt.optimizer);
  } finally {
    for (const t of [...ckpt.model.values(), ...ckpt.optimizer.values()]) t.dispose();
  }
  ctx.log(`resumed from ${ckpt.dir} (step ${ckpt.step})`);
  return ckpt.state;
}

async function startReplicas(tf: Tf, ctx: Ctx, cfg: TrainConfig, model: FaceModel, opt: Sgd): Promise<ReplicaSet> {
  const set = await ReplicaSet.start(tf, model, opt, cfg.sgd, { replicas: cfg.replicas, log: ctx.log });
  // Which processes are this stage's, for a person (or a test) looking at a running training.
  await writeFile(path.join(ctx.workDir!, 'replicas.json'), JSON.stringify({ coordinator: process.pid, replicas: set.pids }) + '\n');
  ctx.log(`${cfg.replicas} replicas started: pids ${set.pids.join(', ')}`);
  return set;
}

const resumeHint = (step: number | undefined): string =>
  step === undefined
    ? 'no checkpoint was written yet: run again to start over (with this or another replica count)'
    : `the last checkpoint is step ${step}: run again to resume from it (with this or another replica count)`;

/** Where the replicas' last `n` steps went, for the curves (TensorBoard). */
function replicaCurves(set: ReplicaSet, n: number): Record<string, number> {
  const s = replicaSummary(set.timings.slice(-n), { warmup: false });
  return { replica_step_ms: s.stepMs, replica_compute_ms: s.computeMs, replica_overhead_ms: s.overheadMs };
}

async function checkpoint(ctx: Ctx, cfg: TrainConfig, model: FaceModel, opt: Sgd, state: LoopState): Promise<void> {
  const m = model.getState();
  const o = opt.getState();
  try {
    await saveCheckpoint(path.join(ctx.workDir!, 'checkpoints'), state.step, m, o, state, cfg.checkpoint.keep);
  } finally {
    for (const t of [...m.values(), ...o.values()]) t.dispose();
  }
}

async function trainLoop(tf: Tf, ctx: Ctx, cfg: TrainConfig, model: FaceModel, opt: Sgd, input: InputPipeline, log: TrainLog, from?: LoopState, evals?: PeriodicEval, replicas?: ReplicaSet): Promise<LoopState & { last?: StepStats; imagesPerSecond: number }> {
  let state: LoopState = from ?? { step: 0, regCoef: 1, input: undefined as unknown as InputState };
  let last: StepStats | undefined;
  let windowStart = Date.now();
  let windowImages = 0;
  let images = 0;
  const t0 = Date.now();
  while (state.step < cfg.steps) {
    const micro: MicroBatch[] = [];
    let inputState = state.input;
    for (let i = 0; i < cfg.accumulate; i++) {
      const b = await input.next();
      micro.push({ images: b.images, labels: b.labels, n: b.n });
      inputState = b.state;
    }
    const lr = learningRate(cfg.lr, state.step, cfg.steps);
    const o = { lr, step: state.step, seed: cfg.seed * 1_000_003 + state.step, regCoef: state.regCoef };
    last = replicas ? await replicas.step(micro, o) : trainStep(tf, model, opt, micro, o);
    if (!Number.isFinite(last.loss)) throw new StageFailure(`the loss became ${last.loss} at step ${state.step} (lr ${lr}): lower the learning rate or check the data`);
    const regCoef = cfg.regDecay !== undefined ? decayRegCoef(state.regCoef, last, cfg.regDecay) : state.regCoef;
    state = { step: state.step + 1, regCoef, input: inputState };
    windowImages += cfg.batchSize * cfg.replicas * cfg.accumulate;
    images += cfg.batchSize * cfg.replicas * cfg.accumulate;
    if (state.step % cfg.logEvery === 0 || state.step === cfg.steps) {
      const ips = (windowImages * 1000) / Math.max(1, Date.now() - windowStart);
      [windowStart, windowImages] = [Date.now(), 0];
      await log.write({ step: state.step, loss: last.loss, inference_loss: last.inferenceLoss, regularization_loss: last.regularizationLoss, accuracy: last.accuracy, accuracy_cos: last.accuracyCos, lr, images_per_second: ips, reg_coef: state.regCoef, ...(replicas ? replicaCurves(replicas, cfg.logEvery) : {}) });
      ctx.progress({ done: state.step, total: cfg.steps, unit: 'steps', note: `loss ${last.loss.toFixed(3)} acc ${last.accuracyCos.toFixed(3)} ${ips.toFixed(1)} img/s` });
    }
    if (evals && (state.step % ctx.params.eval!.every === 0 || state.step === cfg.steps)) {
      replicas?.store();
      const scores = await evals.run(tf, model, { bgr: cfg.input.bgr, batchSize: cfg.batchSize });
      await log.write({ step: state.step, ...scores });
      ctx.log(`step ${state.step}: ${Object.entries(scores).map(([k, v]) => `${k} ${v.toFixed(5)}`).join(', ')}`);
    }
    const interrupted = ctx.signal.aborted;
    if (state.step % cfg.checkpoint.every === 0 || interrupted) {
      replicas?.store();
      await checkpoint(ctx, cfg, model, opt, state);
    }
    if (interrupted) throw new StageFailure(`interrupted at step ${state.step}; checkpoint saved — run again to resume`);
  }
  replicas?.store();
  return { ...state, ...(last ? { last } : {}), imagesPerSecond: (images * 1000) / Math.max(1, Date.now() - t0) };
}

async function writeOutputs(tf: Tf, ctx: Ctx, cfg: TrainConfig, model: FaceModel, r: Awaited<ReturnType<typeof trainLoop>> & Record<string, unknown>): Promise<void> {
  const out = ctx.outDir;
  const pixels = { scale: '(x - 127.5) * 0.0078125', channels: cfg.input.bgr ? 'bgr' : 'rgb', size: cfg.model.backbone.inputSize };
  await saveEmbeddingModel(tf, cfg.model.backbone, model.params, path.join(out, 'model'), { pixels, steps: r.step });
  await mkdir(path.join(out, 'head'), { recursive: true });
  for (const p of model.params.list.filter((q) => q.spec.role === 'classes')) {
    const [rows, cols] = p.spec.shape as [number, number];
    await writeNpy(path.join(out, 'head', `${p.spec.name.replace(/\//g, '_')}.npy`), { rows, cols, data: (await p.v.data<'float32'>()) as Float32Array });
  }
  await cp(path.join(ctx.workDir!, 'metrics.jsonl'), path.join(out, 'metrics.jsonl'));
  await cp(path.join(ctx.workDir!, 'tensorboard'), path.join(out, 'tensorboard'), { recursive: true });
  const summary = { steps: r.step, resumedAt: r.startStep || null, seconds: r.seconds, imagesPerSecond: r.imagesPerSecond, inputWaitSeconds: r.waitSeconds, last: r.last ?? null, regCoef: r.regCoef, backend: r.backend, replicas: r.replicas, config: cfg, pixels };
  await writeFile(path.join(out, 'train.json'), JSON.stringify(summary, null, 2) + '\n');
  ctx.metrics({
    steps: r.step,
    loss: r.last?.loss ?? null,
    accuracy: r.last?.accuracy ?? null,
    accuracy_cos: r.last?.accuracyCos ?? null,
    images_per_second: r.imagesPerSecond,
  });
}
