// `facepipe setup`: makes a native TensorFlow backend available to facepipe, building the
// tfjs-node binding against the TensorFlow pip wheel when the stock npm package cannot work
// (its install script downloads a libtensorflow that is gone / outdated, see build.ts).
// Steps and the files they leave are described in paths.ts, wheel.ts, extract.ts, build.ts,
// commit.ts; this file only sequences them and decides whether anything needs doing.
import { createRequire } from 'node:module';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { compileBinding, installPackage } from './build.js';
import { commitBuild, readStamp } from './commit.js';
import { extractFromWheel, layOutLibNames, stripLibs } from './extract.js';
import { withLock } from './lock.js';
import {
  TENSORFLOW_VERSION, TFJS_NODE_VERSION, nativeDir, nativeRoot, packageDirIn, variantInfo, type Variant,
} from './paths.js';
import { verifyNative } from './verify.js';
import { fetchWheel } from './wheel.js';

export interface SetupOptions {
  gpu: boolean;
  /** Rebuild the cached build even when it exists and works. */
  force: boolean;
  log: (line: string) => void;
}

export interface SetupResult {
  /** 'already-native': the project's own @tensorflow/tfjs-node(-gpu) works, nothing was built.
   *  'cached': a verified build already existed. 'built': a new build was made and verified. */
  status: 'already-native' | 'cached' | 'built';
  variant: Variant;
  /** The build dir under the cache (for 'already-native': the project's package dir). */
  installDir: string;
  /** The tfjs-node(-gpu) package that loadTf() will load. */
  packageDir: string;
  /** TF_Version() of the library the binding loads. */
  tensorflowVersion: string;
  seconds: number;
}

const since = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;

/** The project's own stock package, if npm managed to install it (normally it cannot). */
function projectPackageDir(pkg: string): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    return undefined;
  }
}

async function removeBuildDirs(pkgDir: string): Promise<void> {
  for (const n of await readdir(pkgDir)) {
    if (n === 'build' || n.startsWith('build-tmp-')) await rm(join(pkgDir, n), { recursive: true, force: true });
  }
}

export async function setup(opts: SetupOptions): Promise<SetupResult> {
  const t0 = performance.now();
  const variant: Variant = opts.gpu ? 'gpu' : 'cpu';
  const info = variantInfo(variant);
  const log = opts.log;

  // 1. Nothing to do when a stock install works (e.g. a platform Google still ships binaries
  //    for, or a user who installed libtensorflow by hand). loadTf() prefers it anyway.
  const stock = projectPackageDir(info.npmPackage);
  if (stock) {
    const v = await verifyNative(stock);
    if (v.ok) {
      log(`${info.npmPackage} in the project already runs on TensorFlow ${v.tensorflowVersion ?? ''}; nothing to build`);
      return { status: 'already-native', variant, installDir: stock, packageDir: stock,
        tensorflowVersion: v.tensorflowVersion ?? 'unknown', seconds: since(t0) };
    }
    log(`the project's ${info.npmPackage} does not load natively (${v.error ?? '?'}); using facepipe's own build`);
  }

  const target = nativeDir(variant);
  await mkdir(nativeRoot(), { recursive: true });
  return withLock(join(nativeRoot(), `.${info.dirName}.lock`), log, async () => {
    // 2. A stamped build that still passes verification is reused. (Checked inside the lock:
    //    another setup may just have finished it while we waited.)
    const stamp = await readStamp(target);
    if (stamp && !opts.force) {
      const v = await verifyNative(packageDirIn(target, variant));
      if (v.ok) {
        log(`cached build works: ${target}`);
        return { status: 'cached', variant, installDir: target, packageDir: packageDirIn(target, variant),
          tensorflowVersion: v.tensorflowVersion ?? stamp.tensorflowRuntimeVersion, seconds: since(t0) };
      }
      log(`the cached build no longer works (${v.error ?? '?'}); rebuilding`);
    } else if (opts.force) {
      log('--force: rebuilding');
    }

    // 3. Build in a staging dir. Leftovers of crashed runs go first (we hold the lock).
    for (const n of await readdir(nativeRoot())) {
      if (n.startsWith(`.staging-${info.dirName}-`) || n.startsWith(`.old-${info.dirName}-`)) {
        await rm(join(nativeRoot(), n), { recursive: true, force: true });
      }
    }
    const staging = join(nativeRoot(), `.staging-${info.dirName}-${process.pid}`);
    await mkdir(staging, { recursive: true });
    try {
      const wheel = await fetchWheel(info, log); // first: fails fast without Python / index
      await installPackage(staging, info, log);
      const deps = join(packageDirIn(staging, variant), 'deps');
      await extractFromWheel(wheel, deps, log);
      await stripLibs(deps, log);
      await layOutLibNames(deps);
      await compileBinding(staging, info, wheel, log);
      // node-pre-gyp's build dir (object files, Makefiles with absolute staging paths) is not
      // needed at run time: the addon was copied to lib/napi-v<N>/.
      await removeBuildDirs(packageDirIn(staging, variant));
      const seconds = since(t0);
      const done = await commitBuild({
        staging,
        target,
        verify: (dir) => verifyNative(packageDirIn(dir, variant)),
        stamp: {
          variant, npmPackage: info.npmPackage, tfjsNodeVersion: TFJS_NODE_VERSION,
          tensorflowVersion: TENSORFLOW_VERSION, wheel: wheel.slice(wheel.lastIndexOf('/') + 1),
          node: process.version, nodeAbi: process.versions.modules, napi: process.versions.napi ?? 'unknown',
          platform: process.platform, arch: process.arch, builtAt: new Date().toISOString(), buildSeconds: seconds,
        },
        log,
      });
      log(`installed ${target}`);
      return { status: 'built', variant, installDir: target, packageDir: packageDirIn(target, variant),
        tensorflowVersion: done.tensorflowRuntimeVersion, seconds: since(t0) };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
}
