// Training checkpoints: weights (with moving statistics), optimizer slots and the loop's state,
// in `<work>/checkpoints/ckpt-<step>/`. Written into a temporary folder, `checkpoint.json` (with
// every file's sha256) last, then renamed into place: a folder without a valid checkpoint.json is
// not a checkpoint, and one whose files do not match it is skipped with a warning.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import { fsyncDir } from '../store/fs-util.js';

const FORMAT = 'facepipe-checkpoint/1';
const NAME = /^ckpt-(\d{9})$/;

interface TensorIndex {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export interface Checkpoint<S> {
  step: number;
  dir: string;
  model: Map<string, Tensor>;
  optimizer: Map<string, Tensor>;
  state: S;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function writeTensors(dir: string, base: string, tensors: ReadonlyMap<string, Tensor>): Promise<Record<string, string>> {
  const index: TensorIndex[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    // Exactly the tensor's bytes: data() may return a view into a larger buffer (tfjs-node hands
    // back the array a tensor was made from until TensorFlow has needed it).
    const f32 = await t.data<'float32'>();
    const data = Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength);
    index.push({ name, shape: t.shape, offset, length: data.length });
    parts.push(data);
    offset += data.length;
  }
  const bin = Buffer.concat(parts);
  const json = Buffer.from(JSON.stringify(index));
  await writeFile(path.join(dir, `${base}.bin`), bin);
  await writeFile(path.join(dir, `${base}.json`), json);
  return { [`${base}.bin`]: sha256(bin), [`${base}.json`]: sha256(json) };
}

/** Saves a checkpoint for `step` and keeps only the newest `keep`. Returns its folder. */
export async function saveCheckpoint<S>(root: string, step: number, model: ReadonlyMap<string, Tensor>, optimizer: ReadonlyMap<string, Tensor>, state: S, keep: number): Promise<string> {
  await mkdir(root, { recursive: true });
  const final = path.join(root, `ckpt-${String(step).padStart(9, '0')}`);
  const tmp = path.join(root, `.tmp-${process.pid}-${step}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const files = { ...(await writeTensors(tmp, 'model', model)), ...(await writeTensors(tmp, 'optimizer', optimizer)) };
  const stateJson = Buffer.from(JSON.stringify(state));
  await writeFile(path.join(tmp, 'state.json'), stateJson);
  files['state.json'] = sha256(stateJson);
  await writeFile(path.join(tmp, 'checkpoint.json'), JSON.stringify({ format: FORMAT, step, files, savedAt: new Date().toISOString() }, null, 2));
  await fsyncDir(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncDir(root);
  await prune(root, keep);
  return final;
}

async function prune(root: string, keep: number): Promise<void> {
  const all = (await readdir(root)).filter((n) => NAME.test(n)).sort().reverse();
  for (const old of all.slice(Math.max(1, keep))) await rm(path.join(root, old), { recursive: true, force: true });
  for (const n of await readdir(root)) if (n.startsWith('.tmp-')) await rm(path.join(root, n), { recursive: true, force: true });
}

async function readTensors(tf: Tf, dir: string, base: string): Promise<Map<string, Tensor>> {
  const index = JSON.parse(await readFile(path.join(dir, `${base}.json`), 'utf8')) as TensorIndex[];
  const bin = await readFile(path.join(dir, `${base}.bin`));
  const out = new Map<string, Tensor>();
  for (const t of index) {
    const f32 = new Float32Array(bin.buffer.slice(bin.byteOffset + t.offset, bin.byteOffset + t.offset + t.length));
    out.set(t.name, tf.tensor(f32, t.shape));
  }
  return out;
}

/** Checks a checkpoint folder against its checkpoint.json; the reason it is unusable, or undefined. */
async function problem(dir: string): Promise<string | undefined> {
  let meta: { format?: string; files?: Record<string, string> };
  try {
    meta = JSON.parse(await readFile(path.join(dir, 'checkpoint.json'), 'utf8')) as typeof meta;
  } catch {
    return 'no readable checkpoint.json (interrupted while saving?)';
  }
  if (meta.format !== FORMAT || !meta.files) return `unknown format ${String(meta.format)}`;
  for (const [file, digest] of Object.entries(meta.files)) {
    const data = await readFile(path.join(dir, file)).catch(() => undefined);
    if (!data) return `${file} is missing`;
    if (sha256(data) !== digest) return `${file} does not match its checksum (corrupt)`;
  }
  return undefined;
}

/** Step of the newest checkpoint folder under `root` (not verified), for messages. */
export async function newestCheckpointStep(root: string): Promise<number | undefined> {
  const steps = (await readdir(root).catch(() => [] as string[])).map((n) => NAME.exec(n)?.[1]).filter((x): x is string => x !== undefined).map(Number);
  return steps.length ? Math.max(...steps) : undefined;
}

/** The newest valid checkpoint under `root`; broken ones are reported through `warn` and skipped. */
export async function loadLatestCheckpoint<S>(tf: Tf, root: string, warn: (message: string) => void): Promise<Checkpoint<S> | undefined> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((n) => NAME.test(n)).sort().reverse();
  for (const n of names) {
    const dir = path.join(root, n);
    const why = await problem(dir);
    if (why) {
      warn(`skipping checkpoint ${dir}: ${why}`);
      continue;
    }
    const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as S;
    return { step: Number(NAME.exec(n)![1]), dir, model: await readTensors(tf, dir, 'model'), optimizer: await readTensors(tf, dir, 'optimizer'), state };
  }
  return undefined;
}
