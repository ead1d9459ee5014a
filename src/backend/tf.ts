// Backend resolution, called at the start of every compute stage.
//
// RULE FOR ALL COMPUTE CODE: use the `tf` object returned by loadTf() and never import
// '@tensorflow/tfjs' (or tfjs-node) at run time yourself. The native build that `facepipe setup`
// makes lives in the cache dir and carries its own copy of @tensorflow/tfjs; a second copy
// imported from the project would have its own kernel registry view and could switch the
// process's shared engine to the slow JS backend. `import type` from '@tensorflow/tfjs' is fine.
//
// Order (first that loads wins): the project's @tensorflow/tfjs-node-gpu -> facepipe's cached
// GPU build -> the project's @tensorflow/tfjs-node -> the cached CPU build -> pure-JS
// @tensorflow/tfjs (with a loud warning). FACEPIPE_BACKEND=gpu|cpu|js, or opts.prefer, restrict
// the search to one kind and fail clearly instead of falling back.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TfModule from '@tensorflow/tfjs';
import { nativeDir, packageDirIn, stampPath, type Variant } from './paths.js';
import { nativeEnvDefaults } from './verify.js';

export type Tf = typeof TfModule;
export type BackendPreference = 'auto' | 'gpu' | 'cpu' | 'js';

export interface BackendInfo {
  backend: 'tensorflow' | 'cpu';
  package: string;
  location: 'project' | 'facepipe-cache';
  /** Directory of the loaded package. */
  path: string;
  gpu: boolean;
  tfjsVersion: string;
  tensorflowVersion?: string;
  threads: { intraOp?: number; interOp?: number; onednn: boolean };
}

type Kind = Exclude<BackendPreference, 'auto'>;
interface Candidate { kind: Kind; pkg: string; location: BackendInfo['location']; dir?: string; absent?: string }

const req = createRequire(import.meta.url);

function fromProject(kind: Kind, pkg: string): Candidate {
  let dir: string;
  try {
    dir = dirname(req.resolve(`${pkg}/package.json`));
  } catch {
    return { kind, pkg, location: 'project', absent: 'not installed' };
  }
  // A stock tfjs-node whose install script failed has no addon; requiring it would still
  // register its kernels before throwing, so it is skipped without being loaded.
  if (kind !== 'js' && !hasAddon(dir)) return { kind, pkg, location: 'project', dir, absent: 'installed without its native addon' };
  return { kind, pkg, location: 'project', dir };
}

function fromCache(variant: Variant): Candidate {
  const pkg = variant === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const root = nativeDir(variant);
  // Only a stamped dir is a finished, verified build (see commit.ts).
  if (!existsSync(stampPath(root))) return { kind: variant, pkg, location: 'facepipe-cache', absent: `not built (${root})` };
  return { kind: variant, pkg, location: 'facepipe-cache', dir: packageDirIn(root, variant) };
}

function hasAddon(pkgDir: string): boolean {
  const lib = join(pkgDir, 'lib');
  try {
    return readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

function candidates(kind: BackendPreference): Candidate[] {
  const gpu = () => [fromProject('gpu', '@tensorflow/tfjs-node-gpu'), fromCache('gpu')];
  const cpu = () => [fromProject('cpu', '@tensorflow/tfjs-node'), fromCache('cpu')];
  const js = () => [fromProject('js', '@tensorflow/tfjs')];
  if (kind === 'gpu') return gpu();
  if (kind === 'cpu') return cpu();
  if (kind === 'js') return js();
  return [...gpu(), ...cpu(), ...js()];
}

const num = (v: string | undefined): number | undefined => (v && /^\d+$/.test(v) ? Number(v) : undefined);

async function load(c: Candidate & { dir: string }): Promise<{ tf: Tf; info: BackendInfo }> {
  const native = c.kind !== 'js';
  // Set before the library loads: TF reads them when the binding creates its context.
  // Quiet C++ logs; oneDNN made conv forward ~35% faster here; one inter-op thread stops
  // independent ops from fighting over the cores the intra-op pool already uses.
  if (native) Object.assign(process.env, nativeEnvDefaults());
  const tf = req(c.dir) as Tf;
  // Prod mode silences tfjs warnings, among them the pure-JS "Hi, looks like you are running
  // TensorFlow.js in Node.js" banner printed on the first tensor.
  if (!native) tf.enableProdMode();
  const want = native ? 'tensorflow' : 'cpu';
  const ok = await tf.setBackend(want);
  await tf.ready();
  // setBackend can fail and leave another backend active without throwing: check.
  if (!ok || tf.getBackend() !== want) throw new Error(`tf.setBackend('${want}') left backend '${tf.getBackend()}'`);
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  const version = tf.version as unknown as Record<string, string>;
  return {
    tf,
    info: {
      backend: want,
      package: c.pkg,
      location: c.location,
      path: c.dir,
      gpu: c.kind === 'gpu',
      tfjsVersion: version.tfjs ?? version['tfjs-core'] ?? 'unknown',
      ...(binding?.TF_Version ? { tensorflowVersion: binding.TF_Version } : {}),
      threads: native
        ? { intraOp: num(process.env.TF_NUM_INTRAOP_THREADS), interOp: num(process.env.TF_NUM_INTEROP_THREADS),
          onednn: process.env.TF_ENABLE_ONEDNN_OPTS === '1' }
        : { onednn: false },
    },
  };
}

const describe = (c: Candidate): string => `${c.pkg} (${c.location === 'project' ? 'project' : 'facepipe cache'})`;

function jsWarning(tried: string[]): string {
  const bar = '='.repeat(78);
  return [bar,
    ' facepipe WARNING: no native TensorFlow backend could be loaded. Falling back to the',
    ` pure-JavaScript 'cpu' backend, which is ~100x slower: fit for tiny tests only.`,
    ' Run `npx facepipe setup` once to build the native backend (about a minute).',
    ...tried.map((t) => `   - ${t}`),
    ' (Set FACEPIPE_BACKEND=js to choose the JS backend on purpose and silence this.)',
    bar].join('\n') + '\n';
}

function preference(opts?: { prefer?: BackendPreference }): BackendPreference {
  // The environment wins: it is the per-run override of whatever the config says.
  const env = process.env.FACEPIPE_BACKEND?.trim().toLowerCase();
  if (env) {
    if (!['auto', 'gpu', 'cpu', 'js'].includes(env)) {
      throw new Error(`FACEPIPE_BACKEND='${process.env.FACEPIPE_BACKEND}' is not one of auto, gpu, cpu, js`);
    }
    return env as BackendPreference;
  }
  return opts?.prefer ?? 'auto';
}

async function resolve(pref: BackendPreference, quiet: boolean): Promise<{ tf: Tf; info: BackendInfo }> {
  const tried: string[] = [];
  for (const c of candidates(pref)) {
    if (!c.dir || c.absent) {
      tried.push(`${describe(c)}: ${c.absent}`);
      continue;
    }
    if (c.kind === 'js' && pref === 'auto') process.stderr.write(jsWarning(tried));
    try {
      const r = await load({ ...c, dir: c.dir });
      if (!quiet) {
        const tfv = r.info.tensorflowVersion ? `, TensorFlow ${r.info.tensorflowVersion}` : '';
        process.stderr.write(`facepipe: backend '${r.info.backend}'${r.info.gpu ? ' (GPU build)' : ''}${tfv} from ${describe(c)} ${c.dir}\n`);
      }
      return r;
    } catch (e) {
      tried.push(`${describe(c)}: failed to load: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const source = process.env.FACEPIPE_BACKEND ? `FACEPIPE_BACKEND=${pref}` : `backend preference '${pref}'`;
  const fix = pref === 'gpu'
    ? 'Run `npx facepipe setup --gpu` (needs an NVIDIA GPU with CUDA 12), or unset it to use the CPU.'
    : pref === 'cpu' ? 'Run `npx facepipe setup` to build the native CPU backend.'
      : 'Reinstall facepipe\'s dependencies (`npm install`).';
  throw new Error(`${source}: no such backend could be loaded.\n${tried.map((t) => `  - ${t}`).join('\n')}\n${fix}`);
}

let loaded: { pref: BackendPreference; result: Promise<{ tf: Tf; info: BackendInfo }> } | undefined;

/** Loads the best available TensorFlow.js backend once per process (see the top of this file). */
export async function loadTf(opts?: { prefer?: BackendPreference; quiet?: boolean }): Promise<{ tf: Tf; info: BackendInfo }> {
  const pref = preference(opts);
  if (loaded) {
    const prev = await loaded.result;
    const kind: Kind = prev.info.backend === 'cpu' ? 'js' : prev.info.gpu ? 'gpu' : 'cpu';
    if (pref === 'auto' || pref === loaded.pref || pref === kind) return prev;
    // tfjs has one engine per process; switching would silently move every tensor user.
    throw new Error(`backend '${pref}' requested, but this process already uses '${kind}' (${prev.info.path})`);
  }
  const result = resolve(pref, opts?.quiet ?? false);
  loaded = { pref, result };
  result.catch(() => { loaded = undefined; }); // a failure is not cached: a later call may retry
  return result;
}

/** The backend this process has loaded, if any: the runner records it with a stage's result. */
export async function loadedBackend(): Promise<BackendInfo | undefined> {
  return loaded ? (await loaded.result.catch(() => undefined))?.info : undefined;
}
