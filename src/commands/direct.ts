// Running one stage kind as a plain command (`facepipe convert --rec … --out …`), without a
// pipeline or the store: the parameters are checked by the kind's own schema, the work happens in
// a temporary folder next to --out, and --out appears only when the stage has finished.
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type Diagnostic } from '../config/diagnostics.js';
import { inputPaths, loadSchema } from '../config/schemas.js';
import { FormatError } from '../formats/errors.js';
import { Digester } from '../store/digest.js';
import { StatCache } from '../store/stat-cache.js';
import type { JsonObject } from '../config/sourced.js';
import { loadKind } from '../pipeline/kinds.js';
import { rateMeter } from '../runner/events.js';
import { StageFailure, type Metrics, type StageContext } from '../stage-api.js';
import { PlainRenderer, shownMetrics } from '../ui/plain.js';

export interface DirectRun {
  kind: string;
  params: JsonObject;
  out: string;
  /** Parameter name → the flag that set it, for error messages. */
  flags: Record<string, string>;
}

export async function runDirect(o: DirectRun): Promise<number> {
  checkParams(o);
  const out = path.resolve(o.out);
  if ((await readdir(out).catch(() => [])).length > 0) {
    throw ConfigError.one({ message: `--out ${o.out} exists and is not empty`, fix: 'choose a new folder, or remove this one first (facepipe never writes into existing outputs)' });
  }
  const tmp = `${out}.tmp-${process.pid}`;
  await mkdir(tmp, { recursive: true });
  const kind = await loadKind(o.kind);
  const abort = new AbortController();
  const onInt = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onInt);
  const ui = new PlainRenderer(process.stderr, 2);
  const rate = rateMeter();
  const metrics: Metrics = {};
  const inputDigests = await digestInputs(o);
  const ctx: StageContext = {
    name: o.kind,
    params: o.params,
    outDir: tmp,
    workDir: undefined,
    baseDir: process.cwd(),
    upstream: {},
    inputDigests,
    signal: abort.signal,
    progress: (p) => ui.handle({ type: 'stage-progress', stage: o.kind, progress: p, rate: rate(p) }),
    metrics: (m) => Object.assign(metrics, m),
    log: (line) => process.stdout.write(line + '\n'),
  };
  try {
    await kind.run(ctx);
    abort.signal.throwIfAborted();
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    process.stderr.write(`facepipe ${o.kind} failed: ${e instanceof StageFailure || e instanceof Error ? e.message : String(e)}\n`);
    if (!(e instanceof StageFailure) && !(e instanceof FormatError) && e instanceof Error && !abort.signal.aborted) process.stderr.write(`${e.stack ?? ''}\n`);
    return abort.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onInt);
  }
  process.stdout.write(`${o.kind}: done → ${o.out}\n  ${shownMetrics(metrics, 12).join('  ')}\n`);
  return 0;
}

/** Without a runner nobody hashed the inputs yet: do it here (in memory, no stat cache). */
async function digestInputs(o: DirectRun): Promise<Record<string, string>> {
  const digester = new Digester(StatCache.memory());
  const out: Record<string, string> = {};
  for (const rel of inputPaths(loadSchema(`stages/${o.kind}`).schema, o.params)) {
    const abs = path.resolve(rel);
    out[abs] = (await digester.tree(abs).catch(() => undefined))?.digest ?? '';
    if (!out[abs]) delete out[abs];
  }
  return out;
}

function checkParams(o: DirectRun): void {
  const { validate } = loadSchema(`stages/${o.kind}`);
  if (validate(o.params)) return;
  const diagnostics: Diagnostic[] = (validate.errors ?? []).map((e) => {
    const key = e.instancePath.split('/')[1] ?? String((e.params as { missingProperty?: string }).missingProperty ?? '');
    return { message: `${o.flags[key] ?? key}: ${e.message ?? 'is invalid'}`, fix: `see facepipe --help and schemas/stages/${o.kind}.schema.json` };
  });
  throw new ConfigError(diagnostics);
}
