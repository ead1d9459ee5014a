// Where multi-replica steps spent their time, for train.json, the curves and the benchmark: medians
// over the steps, by default without the first (which also carries the first full weights and
// TensorFlow's warm-up).
import type { StepTiming } from './coordinator.js';

export interface ReplicaSummary {
  steps: number;
  /** Medians per step, ms. */
  stepMs: number;
  computeMs: number;
  /** Everything but the slowest replica's compute: moving bytes, waiting, averaging, updating. */
  overheadMs: number;
  /** Averaging, update and writing the weights, in the coordinator. */
  updateMs: number;
  /** In the slowest replica: weights into TensorFlow, gradients out of it and into the file. */
  loadMs: number;
  writeMs: number;
  /** Bytes per step, all replicas together. */
  bytesSent: number;
  bytesReceived: number;
  overheadShare: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function replicaSummary(timings: readonly StepTiming[], o: { warmup?: boolean } = {}): ReplicaSummary {
  const t = (o.warmup ?? true) && timings.length > 1 ? timings.slice(1) : timings;
  const step = t.map((x) => x.roundTripMs + x.updateMs);
  const stepMs = median(step);
  const computeMs = median(t.map((x) => x.computeMs));
  const overheadMs = median(t.map((x, i) => step[i]! - x.computeMs));
  return {
    steps: timings.length,
    stepMs,
    computeMs,
    overheadMs,
    updateMs: median(t.map((x) => x.updateMs)),
    loadMs: median(t.map((x) => x.loadMs)),
    writeMs: median(t.map((x) => x.writeMs)),
    bytesSent: median(t.map((x) => x.bytesSent)),
    bytesReceived: median(t.map((x) => x.bytesReceived)),
    overheadShare: stepMs > 0 ? overheadMs / stepMs : 0,
  };
}
