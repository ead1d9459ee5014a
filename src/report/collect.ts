// Reading what `train` and `evaluate` wrote. These files come from another process — possibly an
// older facepipe, or a folder the user pointed at by mistake — so each is checked as it is read,
// and a missing or malformed one is a ReportError that names the file and says what to do.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackendInfo } from '../backend/tf.js';
import type { SetMetrics } from '../eval/evaluate-set.js';
import type { TrainConfig } from '../train/config.js';

/** An expected failure while collecting or writing a report: shown without a stack trace. */
export class ReportError extends Error {
  override name = 'ReportError';
}

/** One verification set's numbers, as the evaluate stage's metrics.json has them. */
export type SetResult = Omit<SetMetrics, 'thresholds' | 'folds'>;

export interface Roc {
  fpr: number[];
  tpr: number[];
}

export interface EvaluateOutput {
  dir: string;
  size: number | null;
  channels: string | null;
  datasets: Record<string, SetResult>;
  /** Per dataset, when its `<name>.roc.json` exists. */
  roc: Record<string, Roc>;
}

/** One line of metrics.jsonl: the step and whatever was logged at it. */
export interface LoggedStep {
  step: number;
  [metric: string]: number;
}

export interface TrainSummary {
  steps: number;
  seconds: number | null;
  imagesPerSecond: number | null;
  backend: BackendInfo | null;
  last: { loss?: number; inferenceLoss?: number; regularizationLoss?: number; accuracy?: number; accuracyCos?: number } | null;
  /** The resolved training configuration (absent from a foreign train.json). */
  config: TrainConfig | null;
}

export interface TrainOutput {
  dir: string;
  summary: TrainSummary;
  steps: LoggedStep[];
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ReportError(`${file} is missing: ${what}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ReportError(`${file} is not valid JSON (${(e as Error).message}): ${what}`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function setResult(v: unknown, where: string): SetResult {
  if (!isObj(v)) throw new ReportError(`${where} is not an object of metrics`);
  const need = (k: string) => {
    const n = num(v[k]);
    if (n === null) throw new ReportError(`${where}.${k} should be a number, got ${JSON.stringify(v[k])}`);
    return n;
  };
  return { pairs: need('pairs'), accuracy: need('accuracy'), std: need('std'), xnorm: need('xnorm'), val: num(v.val), val_std: num(v.val_std), far: num(v.far) };
}

/** An evaluate stage's output folder: metrics.json and every `<name>.roc.json` beside it. */
export async function readEvaluate(dir: string): Promise<EvaluateOutput> {
  const file = path.join(dir, 'metrics.json');
  const hint = 'give the output folder of an evaluate stage (it holds metrics.json and <name>.roc.json)';
  const m = await readJson(file, hint);
  if (!isObj(m) || !isObj(m.datasets) || Object.keys(m.datasets).length === 0) throw new ReportError(`${file} has no "datasets": ${hint}`);
  const datasets: Record<string, SetResult> = {};
  const roc: Record<string, Roc> = {};
  for (const [name, v] of Object.entries(m.datasets)) {
    datasets[name] = setResult(v, `${file}: datasets.${name}`);
    const rocFile = path.join(dir, `${name}.roc.json`);
    // A missing ROC only costs its chart: metrics recomputed elsewhere may come without one.
    if (existsSync(rocFile)) roc[name] = readRoc(await readJson(rocFile, hint), rocFile);
  }
  return { dir, size: num(m.size), channels: typeof m.channels === 'string' ? m.channels : null, datasets, roc };
}

function readRoc(v: unknown, file: string): Roc {
  const ok = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === 'number');
  if (!isObj(v) || !ok(v.fpr) || !ok(v.tpr) || v.fpr.length !== v.tpr.length) throw new ReportError(`${file} should hold {thresholds, tpr, fpr}: lists of numbers of equal length`);
  return { fpr: v.fpr, tpr: v.tpr };
}

/** A train stage's output folder: train.json and metrics.jsonl. */
export async function readTrain(dir: string): Promise<TrainOutput> {
  const hint = 'give the output folder of a train stage (it holds train.json and metrics.jsonl)';
  const file = path.join(dir, 'train.json');
  const t = await readJson(file, hint);
  if (!isObj(t) || num(t.steps) === null) throw new ReportError(`${file} has no "steps": ${hint}`);
  const summary: TrainSummary = {
    steps: num(t.steps)!,
    seconds: num(t.seconds),
    imagesPerSecond: num(t.imagesPerSecond),
    backend: isObj(t.backend) ? (t.backend as unknown as BackendInfo) : null,
    last: isObj(t.last) ? (t.last as TrainSummary['last']) : null,
    config: isObj(t.config) && isObj(t.config.model) ? (t.config as unknown as TrainConfig) : null,
  };
  return { dir, summary, steps: await readSteps(path.join(dir, 'metrics.jsonl')) };
}

async function readSteps(file: string): Promise<LoggedStep[]> {
  // Training with a log interval longer than the run logs nothing: no curves, not an error.
  const text = await readFile(file, 'utf8').catch(() => '');
  const steps: LoggedStep[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ReportError(`${file}:${i + 1} is not a JSON line — the file is damaged; re-run the train stage (facepipe run … --force train)`);
    }
    if (!isObj(v) || num(v.step) === null) throw new ReportError(`${file}:${i + 1} has no numeric "step"`);
    const s: LoggedStep = { step: v.step as number };
    for (const [k, x] of Object.entries(v)) if (num(x) !== null) s[k] = x as number;
    steps.push(s);
  }
  return steps;
}

