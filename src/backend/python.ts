// The Python reference environment: a private venv under the facepipe cache holding the libraries
// facepipe's results are checked against — numpy, scipy and scikit-learn (evaluation), protobuf and
// google-crc32c (an independent TFRecord reader) and, with `tensorflow: true`, TensorFlow itself,
// installed from the same cached wheel the native backend is built from. `facepipe setup --python`
// makes it, so tests never depend on whatever Python packages a machine happens to have.
// Same rule as the native build (commit.ts): the stamp is written last, after the imports were
// verified, and a venv without its stamp is half-made and is rebuilt from scratch.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { withLock } from './lock.js';
import { TENSORFLOW_VERSION, cacheDir, stampPath, variantInfo } from './paths.js';
import { describeFailure, run } from './run.js';
import { fetchWheel } from './wheel.js';

/** Distribution → module to import. Floors: scipy 1.9.1 is what the sklearn test reproduces;
 *  protobuf 4.22 has message_factory.GetMessageClass (the TFRecord test builds Example with it). */
const PACKAGES: Record<string, { requirement: string; module: string }> = {
  numpy: { requirement: 'numpy>=1.23', module: 'numpy' },
  scipy: { requirement: 'scipy>=1.9.1', module: 'scipy' },
  'scikit-learn': { requirement: 'scikit-learn>=1.1', module: 'sklearn' },
  protobuf: { requirement: 'protobuf>=4.22', module: 'google.protobuf' },
  'google-crc32c': { requirement: 'google-crc32c>=1.5', module: 'google_crc32c' },
};
const TF_DIST = 'tensorflow-cpu';

export const pythonRefDir = (): string => join(cacheDir(), 'python-ref');
/** The venv's interpreter (its path does not depend on whether the venv exists). */
export const pythonRefPython = (dir = pythonRefDir()): string =>
  process.platform === 'win32' ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python');

export interface PythonStamp {
  /** The requirements it was made from: a change in facepipe's list rebuilds it. */
  requirements: string[];
  tensorflow: boolean;
  wheel?: string;
  python: string;
  /** Installed versions (importlib.metadata), distribution → version. */
  packages: Record<string, string>;
  builtAt: string;
  seconds: number;
}

export interface SetupPythonOptions {
  tensorflow: boolean;
  /** Remove and rebuild even a working venv. */
  force: boolean;
  log: (line: string) => void;
}

export interface SetupPythonResult {
  /** 'updated': TensorFlow was added to an existing venv. */
  status: 'cached' | 'built' | 'updated';
  python: string;
  dir: string;
  tensorflow: boolean;
  packages: Record<string, string>;
  seconds: number;
}

const PIP_INSTALL = ['install', '--no-input', '--disable-pip-version-check', '--retries', '0', '--timeout', '15', '--progress-bar', 'off'];
// `python -m pip`, except that on Linux pip is killed when facepipe dies: a pip orphaned by a
// `kill -9` would go on writing into the venv that the next setup removes and rebuilds.
const PIP_TIED_TO_PARENT = String.raw`
import ctypes, os, runpy, sys
try:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9
except (AttributeError, OSError):
    pass  # not Linux
if os.getppid() == 1:
    sys.exit("facepipe, which started this pip, is gone")
sys.argv = ["pip"] + sys.argv[1:]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
`;
const since = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
const requirements = (): string[] => Object.values(PACKAGES).map((p) => p.requirement);

function readStampSync(dir: string): PythonStamp | undefined {
  try {
    return JSON.parse(readFileSync(stampPath(dir), 'utf8')) as PythonStamp;
  } catch {
    return undefined;
  }
}

/**
 * The reference Python, or undefined when there is none: $FACEPIPE_PYTHON if set (taken as is),
 * else the venv `setupPython` made, when stamped (and, with `tensorflow`, stamped with TensorFlow).
 */
export function findPythonRef(opts: { tensorflow?: boolean } = {}): string | undefined {
  const given = process.env.FACEPIPE_PYTHON;
  if (given) return given;
  const stamp = readStampSync(pythonRefDir());
  const python = pythonRefPython();
  if (!stamp || !existsSync(python) || (opts.tensorflow && !stamp.tensorflow)) return undefined;
  return python;
}

export async function setupPython(opts: SetupPythonOptions): Promise<SetupPythonResult> {
  const t0 = performance.now();
  const dir = pythonRefDir();
  await mkdir(cacheDir(), { recursive: true });
  return withLock(join(cacheDir(), '.python-ref.lock'), opts.log, async () => {
    const stamp = opts.force ? undefined : await usableStamp(dir, opts.log);
    const result = (status: SetupPythonResult['status'], s: PythonStamp): SetupPythonResult =>
      ({ status, python: pythonRefPython(dir), dir, tensorflow: s.tensorflow, packages: s.packages, seconds: since(t0) });
    if (stamp && (stamp.tensorflow || !opts.tensorflow)) {
      opts.log(`Python reference environment up to date: ${dir}`);
      return result('cached', stamp);
    }
    // The wheel first: a failed download leaves a working venv as it was.
    const wheel = opts.tensorflow ? await fetchWheel(variantInfo('cpu'), opts.log) : undefined;
    // Unstamped from here on: an interruption leaves a venv that the next call rebuilds.
    await rm(stampPath(dir), { force: true });
    if (!stamp) await createVenv(dir, opts.log);
    // One pip call for everything, so the resolver picks versions TensorFlow accepts.
    await pipInstall(dir, [...requirements(), ...(wheel ? [wheel] : [])], opts.log);
    const checked = await checkImports(dir, opts.tensorflow, true);
    const done: PythonStamp = {
      requirements: requirements(), tensorflow: opts.tensorflow, ...(wheel ? { wheel: basename(wheel) } : {}),
      python: checked.python, packages: checked.packages, builtAt: new Date().toISOString(), seconds: since(t0),
    };
    await writeFile(stampPath(dir) + '.tmp', JSON.stringify(done, null, 2) + '\n');
    await rename(stampPath(dir) + '.tmp', stampPath(dir));
    opts.log(`Python reference environment ready: ${pythonRefPython(dir)}`);
    return result(stamp ? 'updated' : 'built', done);
  });
}

/** The stamp, if the venv it describes is still what it says (a quick metadata check, no imports). */
async function usableStamp(dir: string, log: (l: string) => void): Promise<PythonStamp | undefined> {
  const stamp = readStampSync(dir);
  if (!stamp) {
    if (existsSync(dir)) log(`${dir} has no stamp (an interrupted setup?); rebuilding it`);
    return undefined;
  }
  if (JSON.stringify(stamp.requirements) !== JSON.stringify(requirements())) {
    log('facepipe needs other Python packages than the reference venv was made with; rebuilding it');
    return undefined;
  }
  try {
    const now = await checkImports(dir, stamp.tensorflow, false);
    if (JSON.stringify(now.packages) === JSON.stringify(stamp.packages)) return stamp;
    log(`the reference venv's packages changed since it was made (${JSON.stringify(now.packages)}); rebuilding it`);
  } catch (e) {
    log(`the reference venv no longer works (${(e as Error).message.split('\n')[0]}); rebuilding it`);
  }
  return undefined;
}

async function createVenv(dir: string, log: (l: string) => void): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  log(`creating a venv in ${dir}`);
  const r = await run('python3', ['-m', 'venv', dir], { timeoutMs: 300_000 });
  if (r.ok) return;
  await rm(dir, { recursive: true, force: true });
  if (r.spawnError) {
    throw new Error('the Python reference environment needs Python 3, and `python3` was not found on PATH. Install it ' +
      '(Debian/Ubuntu: `sudo apt install python3 python3-venv`; macOS: `brew install python`) and run `facepipe setup --python` again.');
  }
  throw new Error('`python3 -m venv` failed, so the Python reference environment cannot be made. Install venv support ' +
    `(Debian/Ubuntu: \`sudo apt install python3-venv\`) and run \`facepipe setup --python\` again.\n${describeFailure('python3 -m venv', r, 300_000)}`);
}

async function pipInstall(dir: string, reqs: string[], log: (l: string) => void): Promise<void> {
  const withTf = reqs.some((r) => r.endsWith('.whl'));
  log(`installing ${reqs.map((r) => basename(r)).join(', ')} with pip`);
  // --retries 0 / --timeout 15 make an unreachable index fail in seconds; the overall timeout only
  // bounds a slow but live download (TensorFlow's dependencies are ~100 MB).
  const timeoutMs = (withTf ? 30 : 10) * 60_000;
  const r = await run(pythonRefPython(dir), ['-c', PIP_TIED_TO_PARENT, ...PIP_INSTALL, ...reqs], { timeoutMs, env: { PIP_NO_INPUT: '1' }, onLine: (l) => log(`pip: ${l}`) });
  if (r.ok) return;
  const tfHint = withTf
    ? ` The TensorFlow wheel must suit the venv's Python (TensorFlow ${TENSORFLOW_VERSION}: CPython 3.10-3.13); a wheel from FACEPIPE_TF_WHEEL for another Python does not install.`
    : '';
  throw new Error(`could not install the Python reference packages into ${dir} with pip.${tfHint} Check that pip can reach PyPI or ` +
    `your configured index (\`pip config list\`), then run \`facepipe setup --python${withTf ? ' --tensorflow' : ''}\` again.\n` +
    describeFailure('pip install', r, timeoutMs));
}

// Prints the installed versions; with imports on, each module is really imported (and TensorFlow
// runs one op), which is what "verified" means before the stamp is written.
const CHECK = String.raw`
import importlib, importlib.metadata as md, json, sys
mods, do_import = json.loads(sys.argv[1]), sys.argv[2] == "1"
out = {"python": sys.version.split()[0], "packages": {}}
for dist, mod in mods.items():
    if do_import:
        m = importlib.import_module(mod)
        if mod == "tensorflow":
            assert float(m.reduce_sum(m.constant([1.0, 2.0]))) == 3.0
    out["packages"][dist] = md.version(dist)
print(json.dumps(out))
`;

async function checkImports(dir: string, tensorflow: boolean, imports: boolean): Promise<{ python: string; packages: Record<string, string> }> {
  const mods: Record<string, string> = Object.fromEntries(Object.entries(PACKAGES).map(([d, p]) => [d, p.module]));
  if (tensorflow) mods[TF_DIST] = 'tensorflow';
  const r = await run(pythonRefPython(dir), ['-c', CHECK, JSON.stringify(mods), imports ? '1' : '0'], { timeoutMs: 180_000, env: { TF_CPP_MIN_LOG_LEVEL: '2' } });
  if (!r.ok) throw new Error(describeFailure(`importing ${Object.values(mods).join(', ')} in ${dir}`, r, 180_000));
  // stdout and stderr come interleaved; the report is the last line that is a JSON object.
  const last = r.output.trim().split('\n').reverse().find((l) => l.startsWith('{"python"'));
  if (!last) throw new Error(`checking the packages in ${dir} printed no report:\n${r.output.slice(-2000)}`);
  const parsed = JSON.parse(last) as { python: string; packages: Record<string, string> };
  if (tensorflow && parsed.packages[TF_DIST] !== TENSORFLOW_VERSION) {
    throw new Error(`the reference venv has ${TF_DIST} ${parsed.packages[TF_DIST]}, not ${TENSORFLOW_VERSION}; run \`facepipe setup --python --tensorflow --rebuild\``);
  }
  return parsed;
}
