import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { StageFailure, type Metrics, type StageContext } from '../../src/stage-api.js';
import type { CommandParams } from './index.js';

export async function runCommand(ctx: StageContext<CommandParams>): Promise<void> {
  const { params } = ctx;
  const env: Record<string, string> = { FACEPIPE_OUT: ctx.outDir, FACEPIPE_STAGE: ctx.name };
  if (ctx.workDir) env.FACEPIPE_WORK = ctx.workDir;
  for (const [k, v] of Object.entries(params.env ?? {})) env[k] = String(v);
  ctx.log(`$ ${params.run}`);
  // The command's output goes to this process's stdout/stderr, which the runner writes to the log.
  const result = await execa('sh', ['-c', params.run], {
    cwd: ctx.baseDir,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
    cancelSignal: ctx.signal,
    // Ctrl-C reaches the command as SIGINT so it can save; SIGKILL only if it ignores it.
    killSignal: 'SIGINT',
    forceKillAfterDelay: 30_000,
    reject: false,
  });
  if (result.isCanceled) throw new StageFailure('interrupted');
  if (result.exitCode !== 0) {
    throw new StageFailure(`command exited with ${result.exitCode ?? result.signal}: ${params.run}`);
  }
  await checkOuts(ctx.outDir, params.outs ?? []);
  if (params.metrics) ctx.metrics(await readMetrics(path.join(ctx.outDir, params.metrics)));
}

async function checkOuts(outDir: string, outs: string[]): Promise<void> {
  const missing: string[] = [];
  for (const o of outs) {
    try {
      await stat(path.join(outDir, o));
    } catch {
      missing.push(o);
    }
  }
  if (missing.length > 0) {
    throw new StageFailure(`declared outs were not created in $FACEPIPE_OUT: ${missing.join(', ')} — write them to "$FACEPIPE_OUT/<path>"`);
  }
}

async function readMetrics(file: string): Promise<Metrics> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new StageFailure(`metrics file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new StageFailure(`metrics file ${file} must hold a JSON object`);
  return flatten(data as Record<string, unknown>, '', {});
}

/** Nested objects become dotted names (`bench.gflops`), as DVC shows nested metrics; lists are skipped. */
function flatten(obj: Record<string, unknown>, prefix: string, out: Metrics): Metrics {
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || ['number', 'string', 'boolean'].includes(typeof v)) out[prefix + k] = v as Metrics[string];
    else if (typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${prefix}${k}.`, out);
  }
  return out;
}
