// The facepipe command line: parses arguments and hands over to one command module.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { ConfigError, formatDiagnostic } from './config/diagnostics.js';
import { parseSet } from './config/overrides.js';
import { FormatError } from './formats/errors.js';
import { facepipeVersion } from './paths.js';

const USAGE = `facepipe ${facepipeVersion} — declarative pipelines that train and evaluate ArcFace face recognizers

usage:
  facepipe run <pipeline.yaml> [-S key=value]... [--runs-dir DIR] [--force STAGE|all]... [--dry-run] [--json] [--jobs N] [--gpus N] [--rehash]
  facepipe validate <pipeline.yaml> [-S key=value]...
  facepipe config <pipeline.yaml> [-S key=value]... [--json]     the final resolved config
  facepipe plan <pipeline.yaml> [-S key=value]... [--json]       what would run and why
  facepipe explain <pipeline.yaml> <stage> [-S key=value]...     a stage's cache key and what changed
  facepipe status <pipeline.yaml> [--runs-dir DIR]               up to date / outdated / running, per stage
  facepipe compare <pipeline|run-dir>... [--csv|--md|--json] [--metric M]... [--sort M] [--no-group]
                                                                 changed parameters × metrics of a sweep or of runs
  facepipe lock <pipeline.yaml> [-S key=value]...                 write <pipeline>.lock: keys, output digests, metrics, versions
  facepipe verify <pipeline.yaml> [--keep] [--json]              re-run into a fresh runs folder and compare with the lock
  facepipe runs [pipeline-name] [--runs-dir DIR] [--json]        recorded runs, newest first
  facepipe report <run>... [--out DIR] [--runs-dir DIR]          one HTML + Markdown report comparing runs
  facepipe convert --rec <train.rec|dir> [--idx FILE] --out <dir> [--shards N] [--shuffle --seed S] [--limit N] [--skip-corrupt]
  facepipe pack --images <dir> --out <dir> [--holdout K --pairs N | --pairs-file FILE] [--size 112] [--seed S] [--bin-name NAME]
  facepipe synth --out <dir> [--identities 100 --images-per-identity 20 --holdout 20 --pairs 600] [--difficulty easy|normal|hard|0..1] [--seed S]
  facepipe eval --model <dir> --bin <file.bin>... --out <dir>   insightface's verification protocol on .bin sets
  facepipe eval --embeddings <dir> [--json]                    the metrics again, from saved .npy embeddings
  facepipe inspect <file>... [--head N] [--json]               .rec/.idx, .tfrecord or .bin: counts, labels, first records, integrity
  facepipe doctor [--bench] [--json]                             which TensorFlow backend loads, and how fast
  facepipe setup [--gpu] [--rebuild] [--quiet] [--python [--tensorflow]]
                                                                 build the native TensorFlow backend (cached); --python also makes
                                                                 the Python reference venv (numpy, scipy, scikit-learn, protobuf,
                                                                 google-crc32c; --tensorflow adds TensorFlow from the same wheel)

  -S, --set key=value   override a config value (train.lr=0.1) or a stage value (stages.train.with.lr=0.1);
                        values are YAML (0.1 is a number, [1,2] a list); +key=value adds a new key.
                        With 'run', several values make a sweep: key=a,b,c  key=range(0.3,0.6,0.1)
                        key=choice(x,y)  (and interval(lo,hi) with a random sweep block); --parallel N
  --runs-dir DIR        where everything is written (default ./runs)
  --force STAGE         re-run STAGE although its result is cached ('all' for every stage)
  --rehash              re-read every input file instead of trusting the stat cache
`;

const options = {
  set: { type: 'string', short: 'S', multiple: true },
  'runs-dir': { type: 'string' },
  force: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  jobs: { type: 'string' },
  gpus: { type: 'string' },
  rehash: { type: 'boolean' },
  gpu: { type: 'boolean' },
  rebuild: { type: 'boolean' },
  bench: { type: 'boolean' },
  quiet: { type: 'boolean' },
  python: { type: 'boolean' },
  tensorflow: { type: 'boolean' },
  parallel: { type: 'string' },
  csv: { type: 'boolean' },
  md: { type: 'boolean' },
  metric: { type: 'string', multiple: true },
  sort: { type: 'string' },
  'no-group': { type: 'boolean' },
  keep: { type: 'boolean' },
  rec: { type: 'string' },
  idx: { type: 'string' },
  out: { type: 'string' },
  shards: { type: 'string' },
  shuffle: { type: 'boolean' },
  seed: { type: 'string' },
  limit: { type: 'string' },
  'skip-corrupt': { type: 'boolean' },
  images: { type: 'string' },
  size: { type: 'string' },
  holdout: { type: 'string' },
  pairs: { type: 'string' },
  'pairs-file': { type: 'string' },
  'bin-name': { type: 'string' },
  head: { type: 'string' },
  model: { type: 'string' },
  bin: { type: 'string', multiple: true },
  embeddings: { type: 'string' },
  identities: { type: 'string' },
  'images-per-identity': { type: 'string' },
  difficulty: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.diagnostics.map(formatDiagnostic).join('\n\n') + '\n');
      return 2;
    }
    if (e instanceof FormatError) {
      // A damaged or foreign input file: the message names the file, the byte and what to do.
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`facepipe: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [command, ...args] = positionals;
  if (v.version) return print(facepipeVersion);
  if (v.help || !command) return print(USAGE);
  const runsDir = path.resolve(v['runs-dir'] ?? 'runs');
  const sets = (v.set ?? []).map(parseSet);
  const overrides = sets.flatMap((x) => ('override' in x ? [x.override] : []));
  const dims = sets.flatMap((x) => ('dim' in x ? [x.dim] : []));
  if (dims.length > 0 && command !== 'run') {
    throw ConfigError.one({ message: `-S ${dims[0]!.key}=… has several values: sweeps are for \`facepipe run\``, fix: 'pass one value to look at one trial' });
  }
  const file = () => args[0] ?? usage(`${command} needs a pipeline file`);
  const prep = () => ({ file: file(), overrides, runsDir, force: forceSet(v), rehash: v.rehash === true });
  switch (command) {
    case 'run': {
      const { runCommand } = await import('./commands/run.js');
      return runCommand({ ...prep(), argv, dryRun: v['dry-run'] === true, json: v.json === true, jobs: int(v.jobs, '--jobs'), gpus: int(v.gpus, '--gpus') ?? visibleGpus() }, dims, int(v.parallel, '--parallel'));
    }
    case 'validate':
      return (await import('./commands/config.js')).validateCommand(file(), overrides);
    case 'config':
      return (await import('./commands/config.js')).configCommand(file(), overrides, v.json === true);
    case 'plan':
      return (await import('./commands/plan.js')).planCommand(prep(), v.json === true);
    case 'explain':
      return (await import('./commands/plan.js')).explainCommand(prep(), args[1] ?? usage('explain needs a stage name'), v.json === true);
    case 'status':
      return (await import('./commands/plan.js')).statusCommand(prep(), v.json === true);
    case 'compare': {
      const format = v.csv ? 'csv' : v.md ? 'md' : v.json ? 'json' : 'text';
      const targets = args.length ? args : usage('compare needs a pipeline or runs');
      return (await import('./commands/compare.js')).compareCommand({ targets, runsDir, format, metrics: v.metric ?? [], ...(v.sort ? { sort: v.sort } : {}), group: v['no-group'] !== true });
    }
    case 'lock':
      return (await import('./commands/verify.js')).lockCommand({ file: file(), overrides, runsDir });
    case 'verify':
      return (await import('./commands/verify.js')).verifyCommand({ file: file(), keep: v.keep === true, json: v.json === true });
    case 'runs':
      return (await import('./commands/runs.js')).runsCommand(runsDir, args[0], v.json === true);
    case 'report':
      return (await import('./commands/report.js')).reportCommand({ runs: args.length ? args : usage('report needs at least one run: a run folder, runs/<pipeline>/latest or a pipeline name'), runsDir, ...(v.out ? { out: v.out } : {}) });
    case 'convert':
      return (await import('./commands/data.js')).convertCommand(v);
    case 'pack':
      return (await import('./commands/data.js')).packCommand(v);
    case 'synth':
      return (await import('./commands/data.js')).synthCommand(v);
    case 'eval':
      return (await import('./commands/eval.js')).evalCommand({ model: v.model, bins: v.bin ?? [], out: v.out, embeddings: v.embeddings, json: v.json === true });
    case 'inspect':
      return (await import('./commands/data.js')).inspectCommand(args, int(v.head, '--head') ?? 5, v.json === true);
    case 'doctor':
      return (await import('./commands/backend.js')).doctorCommand({ bench: v.bench === true, json: v.json === true });
    case 'setup':
      if (v.tensorflow && !v.python) usage('--tensorflow adds TensorFlow to the Python reference venv: use it with --python');
      return (await import('./commands/backend.js')).setupCommand({ gpu: v.gpu === true, force: v.rebuild === true, quiet: v.quiet === true, python: v.python === true, tensorflow: v.tensorflow === true });
    default:
      return usage(`unknown command '${command}'`);
  }
}

function print(s: string): number {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  return 0;
}

function usage(message: string): never {
  throw new UsageError(message);
}

function forceSet(v: Values): ReadonlySet<string> | 'all' {
  const f = v.force ?? [];
  return f.includes('all') ? 'all' : new Set(f);
}

function int(s: string | undefined, name: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) usage(`${name} expects a whole number, got '${s}'`);
  return n;
}

/** GPU slots: the devices CUDA_VISIBLE_DEVICES lists; none when it is unset (use --gpus N). */
function visibleGpus(): number {
  const v = process.env.CUDA_VISIBLE_DEVICES;
  return v ? v.split(',').filter((s) => s.trim() !== '' && s.trim() !== '-1').length : 0;
}
