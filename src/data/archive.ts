// Safe extraction of the archives datasets come in (zip incl. zip64 through yauzl; tar and
// tar.gz through node-tar). Entries that would land outside the target folder, links, devices
// and absolute paths are refused: an archive is data, not a script.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { FormatError } from '../formats/errors.js';

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.zip')) return 'zip';
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  return undefined;
}

export interface ExtractOptions {
  /** Compressed bytes consumed so far, of `total`. */
  onProgress(done: number, total: number): void;
  signal: AbortSignal;
}

export interface ExtractResult {
  files: number;
  bytes: number;
}

export async function extract(file: string, kind: ArchiveKind, dest: string, o: ExtractOptions): Promise<ExtractResult> {
  await mkdir(dest, { recursive: true });
  return kind === 'zip' ? extractZip(file, dest, o) : extractTar(file, kind === 'tar.gz', dest, o);
}

/** The entry's path inside `dest`, or an error if it would escape it. */
export function safeTarget(dest: string, name: string, archive: string): string {
  const clean = name.replace(/\\/g, '/');
  if (clean.startsWith('/') || /^[A-Za-z]:/.test(clean)) throw new FormatError(`entry '${name}' has an absolute path; refusing to extract it`, archive);
  const target = path.resolve(dest, clean);
  if (target !== dest && !target.startsWith(dest + path.sep)) throw new FormatError(`entry '${name}' would be written outside the target folder; refusing to extract it`, archive);
  return target;
}

async function extractZip(file: string, dest: string, o: ExtractOptions): Promise<ExtractResult> {
  // yauzl reads the central directory (zip64 included) and checks each entry's sizes and CRC.
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true, strictFileNames: false });
  const total = zip.fileSize;
  let files = 0;
  let bytes = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      o.signal.throwIfAborted();
      const target = safeTarget(dest, entry.fileName, file);
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (mode === 0o120000) throw new FormatError(`entry '${entry.fileName}' is a symbolic link; facepipe does not extract links`, file);
      if (entry.fileName.endsWith('/')) {
        await mkdir(target, { recursive: true });
        continue;
      }
      await mkdir(path.dirname(target), { recursive: true });
      await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(target), { signal: o.signal });
      files++;
      bytes += entry.uncompressedSize;
      o.onProgress(entry.relativeOffsetOfLocalHeader + entry.compressedSize, total);
    }
  } finally {
    zip.close();
  }
  return { files, bytes };
}

async function extractTar(file: string, gzip: boolean, dest: string, o: ExtractOptions): Promise<ExtractResult> {
  const refused: string[] = [];
  let files = 0;
  let bytes = 0;
  let read = 0;
  const { size } = await stat(file);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      o.onProgress(read, size);
      cb(null, chunk);
    },
  });
  const extractor = tar.x({
    cwd: dest,
    gzip,
    strict: true,
    // Refused entries are skipped here and reported after: nothing outside `dest` is ever written.
    filter: (p, entry) => {
      const type = 'type' in entry ? entry.type : undefined;
      try {
        safeTarget(dest, p, file);
      } catch (e) {
        refused.push((e as Error).message);
        return false;
      }
      if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile' && type !== 'Directory') {
        refused.push(`entry '${p}' is a ${type ?? 'special file'}; facepipe extracts only files and folders`);
        return false;
      }
      if (type !== 'Directory') {
        files++;
        bytes += 'size' in entry ? Number(entry.size ?? 0) : 0;
      }
      return true;
    },
  });
  await pipeline(createReadStream(file), counter, extractor, { signal: o.signal });
  if (refused.length > 0) throw new FormatError(`${refused.length} unsafe entr${refused.length === 1 ? 'y' : 'ies'}: ${refused.slice(0, 3).join('; ')}`, file);
  return { files, bytes };
}
