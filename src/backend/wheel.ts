// Getting libtensorflow: the TensorFlow pip wheel is the only current, maintained build of the
// TF C API for Linux (Google stopped publishing libtensorflow tarballs after 2.18, and tfjs-node
// 4.22 would download 2.9.1). The wheel is fetched with the user's own pip, so whatever index,
// proxy and certificates pip is configured with apply, and cached under <cache>/wheels/.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { venvDir, wheelsDir, type VariantInfo } from './paths.js';
import { describeFailure, run, tail } from './run.js';

const PIP_ARGS = ['--no-input', '--disable-pip-version-check'];

/** A python that has pip: `python3 -m pip`, else a venv made under the cache dir. */
async function findPip(log: (l: string) => void): Promise<string> {
  const probe = await run('python3', ['-m', 'pip', '--version'], { timeoutMs: 60_000 });
  if (probe.ok) return 'python3';
  if (probe.spawnError) {
    throw new Error(
      'facepipe setup needs Python 3 (with pip or venv) to download the TensorFlow wheel, and ' +
        '`python3` was not found on PATH. Install it (Debian/Ubuntu: `sudo apt install python3 ' +
        'python3-venv`; macOS: `brew install python`) and run `facepipe setup` again.',
    );
  }
  // python3 exists but has no pip (common on Debian/Ubuntu): a private venv brings its own.
  const venvPython = join(venvDir(), 'bin', 'python');
  if (!existsSync(venvPython)) {
    log(`python3 has no pip; creating a venv in ${venvDir()}`);
    const mk = await run('python3', ['-m', 'venv', venvDir()], { timeoutMs: 300_000 });
    if (!mk.ok) {
      await rm(venvDir(), { recursive: true, force: true });
      throw new Error(
        '`python3 -m pip` is missing and `python3 -m venv` failed, so the TensorFlow wheel ' +
          'cannot be downloaded. Install pip or venv support (Debian/Ubuntu: `sudo apt install ' +
          `python3-pip python3-venv\`) and run \`facepipe setup\` again.\n${tail(mk.output)}`,
      );
    }
  }
  const check = await run(venvPython, ['-m', 'pip', '--version'], { timeoutMs: 60_000 });
  if (!check.ok) throw new Error(describeFailure(`pip in ${venvDir()} does not work`, check, 60_000));
  return venvPython;
}

function cachedWheel(info: VariantInfo, names: string[]): string | undefined {
  return names.find((n) => n.startsWith(info.wheelFilePrefix) && n.endsWith('.whl'));
}

/**
 * Path of the TensorFlow wheel for this variant, downloading it if it is not cached yet.
 * FACEPIPE_TF_WHEEL=/path/to/file.whl uses a wheel the user fetched some other way (offline
 * machines); it is only read from, never moved.
 */
export async function fetchWheel(info: VariantInfo, log: (l: string) => void): Promise<string> {
  const given = process.env.FACEPIPE_TF_WHEEL;
  if (given) {
    if (!existsSync(given)) throw new Error(`FACEPIPE_TF_WHEEL=${given}: no such file`);
    if (!basename(given).startsWith(info.wheelFilePrefix)) {
      throw new Error(`FACEPIPE_TF_WHEEL=${given} is not a ${info.wheelRequirement} wheel (${info.wheelFilePrefix}*.whl)`);
    }
    log(`using the wheel from FACEPIPE_TF_WHEEL: ${given}`);
    return given;
  }
  const dir = wheelsDir();
  await mkdir(dir, { recursive: true });
  const hit = cachedWheel(info, await readdir(dir));
  if (hit) {
    log(`wheel cached: ${join(dir, hit)}`);
    return join(dir, hit);
  }

  const python = await findPip(log);
  // Downloaded into a private temp dir and moved into wheels/ only when complete, so an
  // interrupted download never looks like a cached wheel.
  const tmp = join(dir, `.download-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    log(`downloading ${info.wheelRequirement} with pip (${info.variant === 'cpu' ? '~270 MB' : 'several hundred MB'})`);
    // --retries 0 / --timeout 15: an unreachable index fails in seconds instead of retrying
    // for minutes; the overall timeout only bounds a slow but live download.
    const timeoutMs = 45 * 60_000;
    const r = await run(
      python,
      ['-m', 'pip', 'download', ...PIP_ARGS, '--no-deps', '--retries', '0', '--timeout', '15',
        '--progress-bar', 'off', info.wheelRequirement, '-d', tmp],
      { timeoutMs, env: { PIP_NO_INPUT: '1' }, onLine: (l) => log(`pip: ${l}`) },
    );
    const got = r.ok ? cachedWheel(info, await readdir(tmp)) : undefined;
    if (!got) {
      const gpuHint = info.variant === 'gpu'
        ? ' The GPU build needs the full `tensorflow` wheel (Linux x86_64, CUDA 12 at run time).'
        : '';
      throw new Error(
        `could not download the TensorFlow wheel \`${info.wheelRequirement}\` with ${python} -m pip.${gpuHint}\n` +
          'Check that pip can reach PyPI or your configured index (`pip config list`; TensorFlow ' +
          `${info.wheelRequirement.split('==')[1]} publishes wheels for CPython 3.10-3.13), or download the ` +
          'wheel yourself and run setup with FACEPIPE_TF_WHEEL=/path/to/the.whl.\n' +
          describeFailure('pip download', r, timeoutMs),
      );
    }
    await rename(join(tmp, got), join(dir, got));
    log(`wheel saved: ${join(dir, got)}`);
    return join(dir, got);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
