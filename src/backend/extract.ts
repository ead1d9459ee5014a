// Turning the TensorFlow wheel into the `deps/` folder tfjs-node's binding.gyp expects:
//   deps/include/...  the C-API headers the binding compiles against (nothing else: the wheel
//                     has ~15,000 files, the binding needs 14 of them)
//   deps/lib/...      the two shared libraries, as real files (a link into a venv or the wheel
//                     cache would break when those are cleaned), plus the names below.
import { createWriteStream } from 'node:fs';
import { mkdir, stat, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { INSTALL_MARKER } from './paths.js';
import { run, which } from './run.js';

/** Headers reached from tfjs-node's binding sources (measured with `g++ -M` on TF 2.21, where
 *  the tstring and status headers moved under tsl/ and xla/tsl/). */
export const TF_HEADERS = [
  'tensorflow/c/c_api.h',
  'tensorflow/c/c_api_macros.h',
  'tensorflow/c/tf_attrtype.h',
  'tensorflow/c/tf_buffer.h',
  'tensorflow/c/tf_datatype.h',
  'tensorflow/c/tf_status.h',
  'tensorflow/c/tf_tensor.h',
  'tensorflow/c/tf_tstring.h',
  'tensorflow/c/eager/c_api.h',
  'tensorflow/core/platform/ctstring.h',
  'tensorflow/core/platform/ctstring_internal.h',
  'tsl/platform/ctstring.h',
  'tsl/platform/ctstring_internal.h',
  'xla/tsl/c/tsl_status.h',
] as const;

/** The C and eager APIs live in libtensorflow_cc, tensor/status/buffer functions in
 *  libtensorflow_framework; these are also their SONAMEs, which the addon records at link time. */
export const TF_LIBS = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'] as const;

/** Which output path (relative to deps/) a wheel entry goes to, if it is one we need. Headers
 *  are found by their path below any `include/` dir (the wheel keeps them in
 *  tensorflow/include/); look-alikes such as include/tensorflow/tsl/... do not match. */
function targetFor(entryName: string): string | undefined {
  for (const h of TF_HEADERS) {
    if (entryName === `include/${h}` || entryName.endsWith(`/include/${h}`)) return join('include', h);
  }
  const base = entryName.slice(entryName.lastIndexOf('/') + 1);
  if ((TF_LIBS as readonly string[]).includes(base)) return join('lib', base);
  return undefined;
}

/** Streams the needed files out of the wheel (a zip) into depsDir. */
export async function extractFromWheel(wheel: string, depsDir: string, log: (l: string) => void): Promise<void> {
  const zip = await yauzl.openPromise(wheel, { lazyEntries: true, autoClose: true });
  const done = new Set<string>();
  for await (const entry of zip.eachEntry()) {
    const rel = targetFor(entry.fileName);
    if (!rel || done.has(rel)) continue;
    const out = join(depsDir, rel);
    await mkdir(dirname(out), { recursive: true });
    if (rel.startsWith('lib')) log(`extracting ${entry.fileName} (${mb(entry.uncompressedSize)})`);
    await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(out, { mode: 0o755 }));
    done.add(rel);
  }
  const missing = [...TF_HEADERS.map((h) => join('include', h)), ...TF_LIBS.map((l) => join('lib', l))]
    .filter((p) => !done.has(p));
  if (missing.length) {
    throw new Error(`the wheel ${wheel} lacks files the binding needs: ${missing.join(', ')}. ` +
      'Is it really the pinned TensorFlow version? Delete it and run setup again.');
  }
  log(`extracted ${TF_HEADERS.length} headers and ${TF_LIBS.length} libraries`);
}

/** `strip --strip-unneeded` drops ~220 MB of symbols the binding never uses (788+65 MB ->
 *  583+51 MB measured). Skipped with a note when binutils' strip is not installed. */
export async function stripLibs(depsDir: string, log: (l: string) => void): Promise<void> {
  const strip = which('strip');
  if (!strip) {
    log('`strip` not found (install binutils to save ~220 MB); keeping the libraries unstripped');
    return;
  }
  for (const lib of TF_LIBS) {
    const p = join(depsDir, 'lib', lib);
    const before = (await stat(p)).size;
    const r = await run(strip, ['--strip-unneeded', p], { timeoutMs: 300_000 });
    // strip writes a temp file and renames it, so a failure leaves the original intact.
    if (!r.ok) log(`strip failed on ${lib}, keeping it unstripped: ${r.output.trim().split('\n')[0] ?? ''}`);
    else log(`stripped ${lib}: ${mb(before)} -> ${mb((await stat(p)).size)}`);
  }
}

/** The names binding.gyp and install.js look for. All relative symlinks inside deps/lib, so
 *  the build dir can be renamed into place without breaking them. */
export async function layOutLibNames(depsDir: string): Promise<void> {
  const lib = join(depsDir, 'lib');
  // `-ltensorflow` finds libtensorflow.so; the linker records the target's SONAME
  // (libtensorflow_cc.so.2), which is the file the addon then loads through its RUNPATH.
  await symlink('libtensorflow_cc.so.2', join(lib, 'libtensorflow.so'));
  await symlink('libtensorflow_framework.so.2', join(lib, 'libtensorflow_framework.so'));
  // install.js skips its libtensorflow download when this file exists.
  await symlink('libtensorflow_cc.so.2', join(lib, INSTALL_MARKER));
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}
