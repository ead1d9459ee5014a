// `convert`, `pack` and `inspect`: the data stages as plain commands, and a look inside any file.
import { ConfigError } from '../config/diagnostics.js';
import type { JsonObject } from '../config/sourced.js';
import { inspect } from '../inspect/index.js';
import { formatReport } from '../inspect/report.js';
import { runDirect } from './direct.js';

export type Flags = Record<string, string | string[] | boolean | undefined>;

/** Stage parameters from flags: `--skip-corrupt` → skip_corrupt; numbers stay numbers. */
function params(v: Flags, map: Record<string, [string, 'string' | 'int' | 'bool' | 'number-or-string']>): { params: JsonObject; flags: Record<string, string> } {
  const out: JsonObject = {};
  const flags: Record<string, string> = {};
  for (const [flag, [param, type]] of Object.entries(map)) {
    flags[param] = `--${flag}`;
    const raw = v[flag];
    if (raw === undefined) continue;
    if (type === 'int') {
      if (!/^-?\d+$/.test(String(raw))) throw ConfigError.one({ message: `--${flag} expects a whole number, got '${String(raw)}'` });
      out[param] = Number(raw);
    } else if (type === 'number-or-string') {
      out[param] = /^-?\d+(\.\d+)?$/.test(String(raw)) ? Number(raw) : (raw as string);
    } else out[param] = raw as string | boolean;
  }
  return { params: out, flags };
}

function requireOut(v: Flags, command: string): string {
  if (typeof v.out !== 'string') throw ConfigError.one({ message: `${command} needs --out <dir>`, fix: `e.g. facepipe ${command} … --out data/${command}ed` });
  return v.out;
}

export function convertCommand(v: Flags): Promise<number> {
  if (typeof v.rec !== 'string') throw ConfigError.one({ message: 'convert needs --rec <train.rec> (or a dataset folder)', fix: 'facepipe convert --rec faces_emore/train.rec --out data/tfrecords --shards 64' });
  const p = params(v, { rec: ['input', 'string'], idx: ['idx', 'string'], shards: ['shards', 'int'], shuffle: ['shuffle', 'bool'], seed: ['seed', 'int'], limit: ['limit', 'int'], 'skip-corrupt': ['skip_corrupt', 'bool'] });
  return runDirect({ kind: 'convert', out: requireOut(v, 'convert'), ...p });
}

export function packCommand(v: Flags): Promise<number> {
  if (typeof v.images !== 'string') throw ConfigError.one({ message: 'pack needs --images <dir> (one sub-folder per person)', fix: 'facepipe pack --images photos/ --out data/packed --holdout 10 --pairs 600' });
  const p = params(v, { images: ['images', 'string'], size: ['size', 'int'], holdout: ['holdout_identities', 'int'], pairs: ['pairs', 'int'], 'pairs-file': ['pairs_file', 'string'], 'bin-name': ['bin_name', 'string'], seed: ['seed', 'int'] });
  return runDirect({ kind: 'pack', out: requireOut(v, 'pack'), ...p });
}

export function synthCommand(v: Flags): Promise<number> {
  const p = params(v, {
    identities: ['identities', 'int'],
    'images-per-identity': ['images_per_identity', 'int'],
    holdout: ['holdout_identities', 'int'],
    pairs: ['pairs', 'int'],
    size: ['size', 'int'],
    seed: ['seed', 'int'],
    difficulty: ['difficulty', 'number-or-string'],
  });
  return runDirect({ kind: 'synth', out: requireOut(v, 'synth'), ...p });
}

export async function inspectCommand(files: string[], head: number, json: boolean): Promise<number> {
  if (files.length === 0) throw ConfigError.one({ message: 'inspect needs a file', fix: 'facepipe inspect train.rec | shard.tfrecord | lfw.bin' });
  let ok = true;
  const reports = [];
  for (const f of files) {
    const r = await inspect(f, head);
    ok &&= r.integrity.ok;
    reports.push(r);
    if (!json) process.stdout.write(formatReport(r) + '\n');
  }
  if (json) process.stdout.write(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + '\n');
  return ok ? 0 : 1;
}
