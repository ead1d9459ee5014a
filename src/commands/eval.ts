// `facepipe eval`: a model on .bin sets without a pipeline, or metrics again from saved embeddings.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { summarize } from '../eval/evaluate-set.js';
import { readNpy } from '../eval/npy.js';
import { formatLines, verify } from '../eval/verification.js';
import { runDirect } from './direct.js';

export async function evalCommand(o: { model?: string; bins: string[]; out?: string; embeddings?: string; json: boolean }): Promise<number> {
  if (o.embeddings !== undefined) return fromEmbeddings(o.embeddings, o.json);
  if (o.model === undefined || o.bins.length === 0 || o.out === undefined) {
    throw ConfigError.one({ message: 'eval needs --model <dir> --bin <file.bin>... --out <dir>, or --embeddings <dir>', fix: 'facepipe eval --model runs/…/outputs/train/model --bin faces_emore/lfw.bin --out eval/' });
  }
  return runDirect({ kind: 'evaluate', params: { model: o.model, bins: o.bins }, out: o.out, flags: { model: '--model', bins: '--bin' } });
}

/** Recomputes every set's metrics from `<name>.emb.npy`, `<name>.emb_flip.npy` and `<name>.issame.json`. */
async function fromEmbeddings(dir: string, json: boolean): Promise<number> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.issame.json')).map((f) => f.slice(0, -'.issame.json'.length)).sort();
  if (names.length === 0) throw ConfigError.one({ message: `no <name>.issame.json in ${dir}`, fix: 'point --embeddings at the output folder of an evaluate stage or of facepipe eval' });
  const all: Record<string, ReturnType<typeof summarize>> = {};
  for (const name of names) {
    const [emb, flip] = await Promise.all([readNpy(path.join(dir, `${name}.emb.npy`)), readNpy(path.join(dir, `${name}.emb_flip.npy`))]);
    const issame = JSON.parse(await readFile(path.join(dir, `${name}.issame.json`), 'utf8')) as boolean[];
    const r = verify({ emb: emb.data, embFlip: flip.data, dim: emb.cols, issame });
    all[name] = summarize(r);
    if (!json) process.stdout.write(formatLines(name, r).join('\n') + '\n');
  }
  if (json) process.stdout.write(JSON.stringify({ datasets: all }, null, 2) + '\n');
  return 0;
}
