// One SGD training step (forward + backward + momentum update, ArcFace head, L2 regularisation) of
// IR-ResNet50, batch 16, 85,742 classes, 112×112, on the native backend: the 'fast' kernels
// against the 'plain' tfjs-ops baseline measured in the same run. Each variant runs in its own
// child process, so that its peak RSS is its own. A tiny-width variant runs in seconds.
//
//   node dist/bench/model.js [--tiny] [--all]     (--all adds the conv ablations)
// FACEPIPE_BENCH_WARMUP / FACEPIPE_BENCH_STEPS change the 5 + 5 steps (NOTES: step time keeps
// falling for 3–4 steps after the first, so medians need ≥ 5 warm-up steps).
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Scalar, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { loadTf } from '../src/backend/tf.js';
import { REGULARIZATION, backboneConfig, type BackboneConfig } from '../src/model/config.js';
import { crossEntropy } from '../src/model/head.js';
import { FAST, PLAIN, type KernelChoice } from '../src/model/kernels.js';
import { createFaceModel } from '../src/model/model.js';
import { median, type BenchResult } from './timing.js';

type Size = 'r50' | 'tiny';

const SIZES: Record<Size, { backbone: BackboneConfig; classes: number; batch: number }> = {
  r50: { backbone: backboneConfig(), classes: 85_742, batch: 16 },
  tiny: { backbone: backboneConfig({ widths: [8, 16, 16, 32], stem: 8, inputSize: 32, embedding: 64 }), classes: 1000, batch: 16 },
};

const VARIANTS: Record<string, KernelChoice> = {
  fast: FAST,
  plain: PLAIN,
  // Conv ablations (conv.ts): pad + VALID everywhere; NOTES' trick (filter gradient on TF's own
  // kernel); EXPLICIT padding for all three conv ops.
  'fast, pad + VALID convs': { ...FAST, conv: 'plain' },
  'fast, eigen-dw convs': { ...FAST, conv: 'eigen-dw' },
  'fast, EXPLICIT convs': { ...FAST, conv: 'explicit' },
};

/** Wall and CPU (user + system, all threads) milliseconds per measured step. CPU time barely
 *  changes when other processes share the cores; wall time does. */
interface ChildResult { stepMs: number[]; cpuMs: number[]; peakRssMB: number }

const envInt = (k: string, d: number): number => (process.env[k] && /^\d+$/.test(process.env[k]!) ? Number(process.env[k]) : d);

/** Runs in the child: builds the model, times warm-up + measured steps. */
async function measure(size: Size, variant: string): Promise<ChildResult> {
  const { tf } = await loadTf({ prefer: 'cpu', quiet: true });
  const s = SIZES[size];
  const m = createFaceModel(tf, {
    backbone: s.backbone,
    head: { classes: s.classes, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' },
    regularization: REGULARIZATION.original,
  }, { impl: VARIANTS[variant]!, seed: 1 });
  const n = s.backbone.inputSize;
  const x = tf.randomUniform([s.batch, n, n, 3], -1, 1, 'float32', 2) as Tensor4D;
  const labels = tf.randomUniform([s.batch], 0, s.classes, 'int32', 3) as Tensor1D;
  const opt = tf.train.momentum(0.0005, 0.9);
  const vars = m.trainableVariables();
  const step = (i: number): [number, number] => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward(x, labels, { training: true, seed: i });
      return tf.add(crossEntropy(tf, out.logits, labels), m.regularizationLoss()) as Scalar;
    }, vars);
    opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
    value.dataSync(); // wait for the step to finish
    tf.dispose([value, ...Object.values(grads)]);
    const c = process.cpuUsage(c0);
    return [performance.now() - t0, (c.user + c.system) / 1000];
  };
  const warmup = envInt('FACEPIPE_BENCH_WARMUP', 5);
  const steps = envInt('FACEPIPE_BENCH_STEPS', 5);
  for (let i = 0; i < warmup; i++) step(i);
  const measured = Array.from({ length: steps }, (_, i) => step(warmup + i));
  return { stepMs: measured.map((m) => m[0]), cpuMs: measured.map((m) => m[1]), peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

function runChild(size: Size, variant: string): ChildResult {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', size, variant], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  const line = out.trim().split('\n').at(-1)!;
  return JSON.parse(line) as ChildResult;
}

export async function benchModel(opts: { sizes?: Size[]; all?: boolean } = {}): Promise<BenchResult> {
  const sizes = opts.sizes ?? ['tiny', 'r50'];
  const variants = opts.all ? Object.keys(VARIANTS) : ['fast', 'plain'];
  const rows: [string, number][] = [];
  const ratios: [string, number][] = [];
  const summary: string[] = [];
  for (const size of sizes) {
    const batch = SIZES[size].batch;
    const ms: Record<string, number> = {};
    const cpu: Record<string, number> = {};
    for (const v of variants) {
      const r = runChild(size, v);
      ms[v] = median(r.stepMs);
      cpu[v] = median(r.cpuMs);
      const ips = (batch * 1000) / ms[v]!;
      rows.push([`${size} '${v}': step, median of ${r.stepMs.length}: ${ips.toFixed(2)} img/s, ${(cpu[v]! / 1000).toFixed(1)} CPU-s, peak RSS ${(r.peakRssMB / 1024).toFixed(1)} GiB`, ms[v]!]);
      if (v === 'fast' || v === 'plain') summary.push(`${size} ${v} ${ips.toFixed(2)} img/s`);
    }
    for (const v of variants.filter((x) => x !== 'plain')) {
      ratios.push([`${size} speed-up of '${v}' over 'plain' (wall time)`, ms.plain! / ms[v]!]);
      // Robust to other processes on the machine, which stretch wall time only.
      ratios.push([`${size} CPU time of 'plain' / '${v}'`, cpu.plain! / cpu[v]!]);
    }
  }
  return {
    name: 'IR-ResNet + ArcFace training step, batch 16 (r50: 85,742 classes, 112×112; tiny: widths 8-32, 32×32)',
    rows,
    ratios,
    goal: `NOTES measured r50 0.93 img/s plain, 2.04 img/s with every trick; here: ${summary.join(', ')}`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    process.stdout.write(`${JSON.stringify(await measure(args[1] as Size, args[2]!))}\n`);
  } else {
    const { formatResult } = await import('./timing.js');
    const sizes: Size[] = args.includes('--tiny') ? ['tiny'] : ['tiny', 'r50'];
    console.log(formatResult(await benchModel({ sizes, all: args.includes('--all') })));
  }
}
