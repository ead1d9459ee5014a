// 112×112 JPEG decode/encode, one image at a time (what one input-pipeline thread does): sharp
// (chosen, src/formats/image.ts) against @jsquash/jpeg (mozjpeg in WASM) and against TensorFlow's
// own libjpeg-turbo (the pixel reference), plus the header-only parser and sharp with several
// decodes in flight on libuv's pool. Images: the real insightface-made JPEGs in ../shared/data
// when present, else synthetic q95 4:2:0 ones. Run: `npx tsc -p . && node dist/bench/jpeg.js`.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { loadTf } from '../src/backend/tf.js';
import { decodeImage, encodeJpeg, type RawImage } from '../src/formats/image.js';
import { imageInfo } from '../src/formats/jpeg-info.js';
import { formatResult, type BenchResult } from './timing.js';

const N = Number(process.env.FACEPIPE_BENCH_JPEG_N ?? 3000);
const dist = path.dirname(fileURLToPath(import.meta.url));

/** Images per second of `f` called N times one after another, after a warm-up. */
async function rate(f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await f(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await f(i);
  return (N / (performance.now() - t0)) * 1000;
}

/** Images per second with `k` calls in flight. */
async function rateInFlight(k: number, f: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: k }, async () => {
    while (next < N) await f(next++);
  }));
  return (N / (performance.now() - t0)) * 1000;
}

async function sampleJpegs(): Promise<{ jpegs: Buffer[]; source: string }> {
  try {
    const { realJpegs } = await import(pathToFileURL(path.join(dist, '..', 'test', 'formats', 'image-samples.js')).href);
    const all = (await realJpegs()) as { bytes: Buffer }[];
    const jpegs = all.map((s) => s.bytes).filter((b) => imageInfo(b).width === 112);
    return { jpegs, source: `${jpegs.length} real 112×112 insightface JPEGs` };
  } catch {
    let seed = 7;
    const noise = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 27);
    const jpegs = await Promise.all(Array.from({ length: 16 }, (_, k) => {
      const px = new Uint8Array(112 * 112 * 3).map((_, i) => (((i / 3) % 112) * 2 + k * 9 + noise()) & 255);
      return encodeJpeg(px, 112, 112, 3);
    }));
    return { jpegs, source: '16 synthetic 112×112 q95 4:2:0 JPEGs (../shared/data not found)' };
  }
}

interface Jsquash {
  decode(b: ArrayBuffer): Promise<{ data: Uint8ClampedArray; width: number; height: number }>;
  encode(img: { data: Uint8ClampedArray; width: number; height: number }, o: object): Promise<ArrayBuffer>;
}

/** @jsquash/jpeg if installed (it is only a comparison; the specifier is a variable so tsc does not need it). */
async function loadJsquash(): Promise<Jsquash | undefined> {
  try {
    const root = '@jsquash/jpeg';
    const dec = await import(`${root}/decode.js`);
    const enc = await import(`${root}/encode.js`);
    const wasm = (kind: string) => readFile(fileURLToPath(import.meta.resolve(`${root}/codec/${kind}/mozjpeg_${kind}.wasm`)));
    // Node's fetch cannot load the WASM from a file URL: hand it the compiled module.
    const compile = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<unknown> } }).WebAssembly.compile;
    await dec.init(await compile(await wasm('dec')));
    await enc.init(await compile(await wasm('enc')));
    return { decode: dec.default, encode: enc.default };
  } catch {
    return undefined;
  }
}

type DecodeJpeg = (b: Uint8Array, ch: number, ratio: number, fancy: boolean, recover: boolean, fraction: number, dct: string) => { dataSync(): unknown; dispose(): void };

export async function benchJpeg(): Promise<BenchResult> {
  const { jpegs, source } = await sampleJpegs();
  const at = (i: number) => jpegs[i % jpegs.length]!;
  const face: RawImage = await decodeImage(jpegs[0]!, { channels: 3 });
  const rows: [string, number][] = [];
  const add = (what: string, ips: number) => rows.push([`${what}: ${ips.toFixed(0)} img/s (ms per 1000 →)`, 1e6 / ips]);

  const decode = await rate((i) => decodeImage(at(i)));
  add('sharp decodeImage (header check + decode)', decode);
  add('sharp bare decode (sharp(b).raw())', await rate((i) => sharp(at(i)).raw().toBuffer()));
  const inFlight = Math.max(2, os.availableParallelism());
  const parallel = await rateInFlight(inFlight, (i) => decodeImage(at(i)));
  add(`sharp decodeImage, ${inFlight} in flight (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, ${os.availableParallelism()} cores)`, parallel);
  add('imageInfo header parse', await rate((i) => imageInfo(at(i))));
  const encode = await rate(() => encodeJpeg(face.data, 112, 112, 3));
  add('sharp encodeJpeg q95 4:2:0', encode);

  const ratios: [string, number][] = [[`sharp decode ${inFlight} in flight / one at a time`, parallel / decode]];
  const js = await loadJsquash();
  if (js) {
    const buffers = jpegs.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    const jsDecode = await rate((i) => js.decode(buffers[i % buffers.length]!));
    add('@jsquash/jpeg decode', jsDecode);
    const rgba = new Uint8ClampedArray(112 * 112 * 4).map((_, i) => (i % 4 === 3 ? 255 : face.data[(i >> 2) * 3 + (i % 4)]!));
    // Closest to libjpeg-turbo's q95 4:2:0 it allows: trellis quantisation stays on.
    const opts = { quality: 95, quant_table: 0, baseline: true, progressive: false, optimize_coding: true, auto_subsample: false, chroma_subsample: 2 };
    const jsEncode = await rate(() => js.encode({ data: rgba, width: 112, height: 112 }, opts));
    add('@jsquash/jpeg encode q95 4:2:0 baseline', jsEncode);
    ratios.push(['decode: sharp img/s / @jsquash img/s', decode / jsDecode], ['encode: sharp img/s / @jsquash img/s', encode / jsEncode]);
  }
  const tf = await loadTf({ prefer: 'cpu', quiet: true }).catch(() => undefined);
  if (tf) {
    const decodeJpeg = (tf.tf as unknown as { node: { decodeJpeg: DecodeJpeg } }).node.decodeJpeg;
    const tfDecode = await rate((i) => {
      const t = decodeJpeg(at(i), 3, 1, true, false, 1, 'INTEGER_ACCURATE');
      t.dataSync();
      t.dispose();
    });
    add('TF decodeJpeg INTEGER_ACCURATE (reference libjpeg-turbo, synchronous)', tfDecode);
    ratios.push(['decode: sharp img/s / TF img/s', decode / tfDecode]);
  }
  return {
    name: `jpeg: ${N} decodes/encodes each of ${source}, one at a time unless stated`,
    rows,
    ratios,
    goal: 'decode well above the trainer\'s appetite per core (≥ 2000 img/s); pixels identical to libjpeg-turbo',
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatResult(await benchJpeg()));
}
