// A resumable HTTP(S) download into a partial file: on a dropped connection it asks for the rest
// with a Range request (guarded by If-Range, so a file that changed on the server is restarted,
// never spliced), with retries and exponential backoff.
import { createWriteStream } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DownloadOptions {
  url: string;
  /** Where the bytes go; `<partial>.meta.json` remembers the server's validator between attempts. */
  partial: string;
  retries: number;
  /** First retry delay; doubles on each failed attempt (capped at 60 s). */
  backoffMs: number;
  /** Abort an attempt when no byte arrives for this long. */
  idleTimeoutMs: number;
  signal: AbortSignal;
  onProgress(done: number, total: number | undefined): void;
  log(line: string): void;
}

export interface DownloadResult {
  bytes: number;
  attempts: number;
  resumed: number;
}

interface Meta {
  url: string;
  validator?: string;
  total?: number;
}

export class DownloadError extends Error {
  constructor(message: string, readonly permanent: boolean) {
    super(message);
    this.name = 'DownloadError';
  }
}

export async function download(o: DownloadOptions): Promise<DownloadResult> {
  let attempts = 0;
  let resumed = 0;
  for (;;) {
    attempts++;
    try {
      const r = await attempt(o);
      if (r.resumedFrom > 0) resumed++;
      return { bytes: r.bytes, attempts, resumed };
    } catch (e) {
      if (o.signal.aborted) throw e;
      const permanent = e instanceof DownloadError && e.permanent;
      if (permanent || attempts > o.retries) throw e;
      const delay = Math.min(60_000, o.backoffMs * 2 ** (attempts - 1)) * (0.75 + Math.random() / 2);
      o.log(`download attempt ${attempts} failed (${(e as Error).message}); retrying in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay, undefined, { signal: o.signal });
    }
  }
}

async function readMeta(o: DownloadOptions): Promise<{ have: number; meta?: Meta }> {
  try {
    const meta = JSON.parse(await readFile(`${o.partial}.meta.json`, 'utf8')) as Meta;
    const have = (await stat(o.partial)).size;
    // A partial from another URL, or without a validator, cannot be resumed safely.
    if (meta.url !== o.url || !meta.validator) return { have: 0 };
    return { have, meta };
  } catch {
    return { have: 0 };
  }
}

async function attempt(o: DownloadOptions): Promise<{ bytes: number; resumedFrom: number }> {
  const { have, meta } = await readMeta(o);
  if (meta?.total !== undefined && have === meta.total) return { bytes: have, resumedFrom: have };
  const idle = new AbortController();
  // identity: a server that gzips the transfer would otherwise hand us different bytes and sizes.
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
  if (have > 0 && meta?.validator) {
    headers.Range = `bytes=${have}-`;
    headers['If-Range'] = meta.validator;
  }
  let timer = setTimeout(() => idle.abort(), o.idleTimeoutMs);
  const res = await fetch(o.url, { headers, signal: AbortSignal.any([o.signal, idle.signal]), redirect: 'follow' }).catch((e: Error) => {
    throw new Error(idle.signal.aborted ? `no response within ${o.idleTimeoutMs / 1000} s` : `${e.message}${e.cause ? ` (${String((e.cause as Error).message ?? e.cause)})` : ''}`);
  });
  if (res.status === 416 && have > 0) {
    await dropPartial(o.partial);
    throw new Error('the server refused to resume (HTTP 416); starting over');
  }
  const start = startOffset(res, have, o.url);
  const total = totalSize(res, start);
  await writeFile(`${o.partial}.meta.json`, JSON.stringify({ url: o.url, validator: validator(res), total } satisfies Meta));
  if (start === 0 && have > 0) o.log(`the server sent the whole file again (${res.status}); restarting from byte 0`);
  if (start > 0) o.log(`resuming at byte ${start}`);
  let done = start;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    done += chunk.length;
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), o.idleTimeoutMs);
    o.onProgress(done, total);
  });
  try {
    await pipeline(body, createWriteStream(o.partial, { flags: start > 0 ? 'a' : 'w' }));
  } catch (e) {
    throw new Error(idle.signal.aborted ? `stalled: no data for ${o.idleTimeoutMs / 1000} s at byte ${done}` : `connection lost at byte ${done}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  if (total !== undefined && done !== total) throw new Error(`connection closed at byte ${done} of ${total}`);
  return { bytes: done, resumedFrom: start };
}

/** Where the body starts in the file: `have` for a honoured Range, 0 for a full response. */
function startOffset(res: Response, have: number, url: string): number {
  if (res.status === 206) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== have) throw new Error(`the server answered the range request for byte ${have} with '${res.headers.get('content-range')}'`);
    return have;
  }
  if (res.status === 200) return 0;
  const permanent = res.status === 404 || res.status === 410 || res.status === 401 || res.status === 403;
  throw new DownloadError(`${url}: HTTP ${res.status} ${res.statusText}`, permanent);
}

function totalSize(res: Response, start: number): number | undefined {
  const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const len = res.headers.get('content-length');
  // A compressed transfer's length is not the file's: then the size is simply unknown.
  if (len === null || res.headers.get('content-encoding')) return undefined;
  return start + Number(len);
}

/** A strong validator for If-Range: an ETag that is not weak, else Last-Modified. */
function validator(res: Response): string | undefined {
  const etag = res.headers.get('etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return res.headers.get('last-modified') ?? undefined;
}

export async function dropPartial(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(`${partial}.meta.json`, { force: true });
}
