import { constants } from 'node:fs';
import { copyFile, link, mkdir, readdir, realpath, rename, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archiveKind, extract, type ArchiveKind } from '../../src/data/archive.js';
import { fileDigests } from '../../src/data/checksum.js';
import { download, dropPartial } from '../../src/net/http-download.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import type { DownloadParams } from './index.js';

type Ctx = StageContext<DownloadParams>;

// Operational knobs, not part of any result's identity, so not parameters (and not in the key).
const env = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
};

export async function runDownload(ctx: Ctx): Promise<void> {
  if (ctx.params.path !== undefined) return fromPath(ctx, path.resolve(ctx.baseDir, ctx.params.path));
  const file = await fetchVerified(ctx);
  const name = ctx.params.filename ?? decodeURIComponent(path.posix.basename(new URL(ctx.params.url!).pathname)) ?? 'download';
  await place(ctx, file, name);
}

/** Tries the url, then each mirror; returns the verified file in the work folder. */
async function fetchVerified(ctx: Ctx): Promise<string> {
  const partial = path.join(ctx.workDir!, 'download.part');
  const errors: string[] = [];
  for (const source of [ctx.params.url!, ...(ctx.params.mirrors ?? [])]) {
    try {
      const t0 = Date.now();
      const r = await fetchOne(ctx, source, partial);
      await verify(ctx, partial, source);
      ctx.metrics({ source, bytes: r.bytes, attempts: r.attempts, download_seconds: (Date.now() - t0) / 1000 });
      return partial;
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      errors.push(`${source}: ${(e as Error).message}`);
      ctx.log(`failed: ${errors.at(-1)}`);
    }
  }
  throw new StageFailure(`could not download the file from any source:\n  ${errors.join('\n  ')}`);
}

async function fetchOne(ctx: Ctx, source: string, partial: string) {
  const progress = (done: number, total?: number) => ctx.progress({ done, total, unit: 'B', note: new URL(source).host || 'file' });
  if (source.startsWith('file:')) {
    const from = fileURLToPath(source);
    const { size } = await stat(from);
    await dropPartial(partial);
    await copyFile(from, partial, constants.COPYFILE_FICLONE);
    progress(size, size);
    return { bytes: size, attempts: 1 };
  }
  return download({
    url: source,
    partial,
    retries: env('FACEPIPE_DOWNLOAD_RETRIES', 5),
    backoffMs: env('FACEPIPE_DOWNLOAD_BACKOFF_MS', 1000),
    idleTimeoutMs: env('FACEPIPE_DOWNLOAD_IDLE_S', 60) * 1000,
    signal: ctx.signal,
    onProgress: progress,
    log: ctx.log,
  });
}

/** Checks the expected checksums; a mismatch drops the file so nothing corrupt is resumed. */
async function verify(ctx: Ctx, file: string, source: string): Promise<void> {
  const { size } = await stat(file);
  const digests = await fileDigests(file, ['sha256', ...(ctx.params.md5 ? ['md5'] : [])], (n) =>
    ctx.progress({ done: n, total: size, unit: 'B', note: 'verifying checksum' }),
  );
  ctx.metrics({ sha256: digests.sha256! });
  for (const algo of ['sha256', 'md5'] as const) {
    const want = ctx.params[algo]?.toLowerCase();
    if (want && digests[algo] !== want) {
      await dropPartial(file);
      throw new StageFailure(`${algo} mismatch for ${source}: expected ${want}, got ${digests[algo]} (${size} bytes) — the file is corrupt or not the one the pipeline names`);
    }
  }
}

/** Unpacks (or just moves) the verified file into the output folder. */
async function place(ctx: Ctx, file: string, name: string): Promise<void> {
  const kind = chosenKind(ctx.params.extract, name);
  if (!kind) {
    await rename(file, path.join(ctx.outDir, name));
    ctx.metrics({ files: 1 });
    return;
  }
  await unpack(ctx, file, kind);
}

function chosenKind(extract: DownloadParams['extract'], name: string): ArchiveKind | undefined {
  if (extract === 'none') return undefined;
  if (extract === undefined || extract === 'auto') return archiveKind(name);
  return extract;
}

async function unpack(ctx: Ctx, file: string, kind: ArchiveKind): Promise<void> {
  const r = await extract(file, kind, ctx.outDir, {
    signal: ctx.signal,
    onProgress: (done, total) => ctx.progress({ done, total, unit: 'B', note: `extracting ${kind}` }),
  });
  if (ctx.params.strip_top_folder ?? true) await stripTopFolder(ctx.outDir);
  ctx.metrics({ files: r.files, extracted_bytes: r.bytes });
}

/** faces_emore.zip holds faces_emore/…: make the folder's contents the output. */
async function stripTopFolder(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length !== 1 || !entries[0]!.isDirectory()) return;
  const top = path.join(dir, entries[0]!.name);
  // Move the folder aside first: it may contain an entry with its own name.
  const aside = path.join(dir, `.strip-${process.pid}`);
  await rename(top, aside);
  for (const e of await readdir(aside)) await rename(path.join(aside, e), path.join(dir, e));
  await rmdir(aside);
}

async function fromPath(ctx: Ctx, abs: string): Promise<void> {
  const st = await stat(abs).catch(() => {
    throw new StageFailure(`path ${abs} does not exist`);
  });
  if (st.isFile()) {
    const kind = chosenKind(ctx.params.extract, abs);
    if (kind) return unpack(ctx, abs, kind);
  }
  const r = await linkTree(abs, st.isFile() ? path.join(ctx.outDir, ctx.params.filename ?? path.basename(abs)) : ctx.outDir, ctx);
  ctx.metrics({ files: r.files, bytes: r.bytes, linked: r.linked });
}

/**
 * Mirrors a file or folder into the output with hard links (instant, no extra disk for a 40 GB
 * dataset), copying where links cannot be made (another filesystem). Links are followed.
 */
async function linkTree(src: string, dest: string, ctx: Ctx, acc = { files: 0, bytes: 0, linked: 0 }) {
  const real = await realpath(src);
  const st = await stat(real);
  if (st.isDirectory()) {
    await mkdir(dest, { recursive: true });
    for (const e of (await readdir(real)).sort()) await linkTree(path.join(real, e), path.join(dest, e), ctx, acc);
    return acc;
  }
  if (!st.isFile()) throw new StageFailure(`${src} is neither a file nor a folder`);
  try {
    await link(real, dest);
    acc.linked++;
  } catch {
    await copyFile(real, dest, constants.COPYFILE_FICLONE);
  }
  acc.files++;
  acc.bytes += st.size;
  ctx.progress({ done: acc.files, unit: 'files', note: 'linking' });
  return acc;
}
