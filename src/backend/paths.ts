// Where facepipe keeps its native TensorFlow build, and every version it pins.
// All version numbers live here so that changing one (and the cache dir name with it) is a
// one-line edit: the dir name encodes the versions, so a bump never reuses a stale build.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** tfjs-node release whose binding sources we compile (and whose tfjs copy the cache carries). */
export const TFJS_NODE_VERSION = '4.22.0';
/** TensorFlow wheel that supplies libtensorflow (the C API) for the binding. */
export const TENSORFLOW_VERSION = '2.21.0';
/** The file tfjs-node's scripts/install.js looks for to decide libtensorflow is already there
 *  (it is named after the libtensorflow version that tfjs-node 4.22 would download). */
export const INSTALL_MARKER = 'libtensorflow.so.2.9.1';

export type Variant = 'cpu' | 'gpu';

export interface VariantInfo {
  variant: Variant;
  /** npm package that carries the binding sources. */
  npmPackage: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';
  /** pip requirement for the wheel carrying libtensorflow_cc / libtensorflow_framework. */
  wheelRequirement: string;
  /** Prefix of the wheel file name, to find a cached wheel without asking pip. */
  wheelFilePrefix: string;
  /** Directory name under <cache>/native/. */
  dirName: string;
}

export function variantInfo(variant: Variant): VariantInfo {
  const gpu = variant === 'gpu';
  // The GPU build uses the plain `tensorflow` wheel (CUDA 12 on Linux); `tensorflow-cpu` is the
  // same C API without CUDA, a smaller download.
  const wheelName = gpu ? 'tensorflow' : 'tensorflow-cpu';
  return {
    variant,
    npmPackage: gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node',
    wheelRequirement: `${wheelName}==${TENSORFLOW_VERSION}`,
    wheelFilePrefix: `${wheelName.replace(/-/g, '_')}-${TENSORFLOW_VERSION}-`,
    dirName: `tfjs-node-${TFJS_NODE_VERSION}-tf${TENSORFLOW_VERSION}-${variant}`,
  };
}

/** $FACEPIPE_CACHE_DIR, else $XDG_CACHE_HOME/facepipe, else ~/.cache/facepipe.
 *  Read on every call (not at import) so tests and child processes can redirect it. */
export function cacheDir(): string {
  const explicit = process.env.FACEPIPE_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg) return join(xdg, 'facepipe');
  return join(homedir(), '.cache', 'facepipe');
}

export const nativeRoot = (): string => join(cacheDir(), 'native');
export const nativeDir = (variant: Variant): string => join(nativeRoot(), variantInfo(variant).dirName);
export const wheelsDir = (): string => join(cacheDir(), 'wheels');
/** Fallback venv, only created when `python3 -m pip` is missing. */
export const venvDir = (): string => join(cacheDir(), 'venv');

/** Written last, after verification: its presence is what "the build is finished" means. */
export const STAMP_FILE = 'facepipe-stamp.json';
export const stampPath = (dir: string): string => join(dir, STAMP_FILE);

/** The installed package inside a private build dir (<dir>/node_modules/@tensorflow/tfjs-node). */
export function packageDirIn(dir: string, variant: Variant): string {
  return join(dir, 'node_modules', ...variantInfo(variant).npmPackage.split('/'));
}
