// The Python reference venv: made in a private cache dir (one real pip install, ~12 s), reused
// when stamped, rebuilt when its stamp is missing, and found (or overridden) by findPythonRef.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stampPath } from '../../src/backend/paths.js';
import { findPythonRef, pythonRefDir, pythonRefPython, setupPython, type PythonStamp } from '../../src/backend/python.js';
import { facepipe } from '../helpers.js';
import { tempDir, withEnv } from './helpers.js';

test('an unstamped venv is rebuilt, then reused; findPythonRef finds it', { timeout: 15 * 60_000 }, async () => {
  const cache = await tempDir('facepipe-pyref-');
  await withEnv({ FACEPIPE_CACHE_DIR: cache, FACEPIPE_PYTHON: undefined }, async () => {
    // What an interrupted setup leaves: a venv dir without its stamp.
    const dir = pythonRefDir();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'half-installed'), '');
    assert.equal(findPythonRef(), undefined);

    const lines: string[] = [];
    const built = await setupPython({ tensorflow: false, force: false, log: (l) => lines.push(l) });
    assert.equal(built.status, 'built');
    assert.ok(lines.some((l) => l.includes('has no stamp')), lines.join('\n'));
    assert.ok(!existsSync(join(dir, 'half-installed')), 'the unstamped dir was removed first');
    const stamp = JSON.parse(await readFile(stampPath(dir), 'utf8')) as PythonStamp;
    assert.equal(stamp.tensorflow, false);
    assert.deepEqual(Object.keys(stamp.packages).sort(), ['google-crc32c', 'numpy', 'protobuf', 'scikit-learn', 'scipy']);
    assert.deepEqual(built.packages, stamp.packages);

    // The venv is isolated and has what the cross-checks import.
    const out = execFileSync(built.python, ['-c', 'import sys, numpy, scipy, sklearn, google_crc32c; from google.protobuf import message_factory; print(sys.prefix, google_crc32c.value(b"123456789"))'], { encoding: 'utf8' });
    assert.equal(out.trim(), `${dir} ${0xe3069283}`);

    lines.length = 0;
    const again = await setupPython({ tensorflow: false, force: false, log: (l) => lines.push(l) });
    assert.equal(again.status, 'cached');
    assert.ok(again.seconds < 5, `cached setup took ${again.seconds} s`);
    assert.ok(!lines.some((l) => l.startsWith('pip:') || l.includes('creating a venv')), lines.join('\n'));
    assert.deepEqual(JSON.parse(await readFile(stampPath(dir), 'utf8')), stamp, 'stamp untouched');

    assert.equal(findPythonRef(), pythonRefPython(dir));
    assert.equal(findPythonRef({ tensorflow: true }), undefined, 'no TensorFlow in this venv');
  });
});

test('FACEPIPE_PYTHON overrides the venv', async () => {
  await withEnv({ FACEPIPE_PYTHON: '/opt/some/python3' }, async () => {
    assert.equal(findPythonRef(), '/opt/some/python3');
    assert.equal(findPythonRef({ tensorflow: true }), '/opt/some/python3');
  });
});

test('`setup --tensorflow` without --python is a usage error that names the fix', async () => {
  const r = await facepipe(['setup', '--tensorflow'], { cwd: await tempDir() });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /--tensorflow adds TensorFlow to the Python reference venv: use it with --python/);
});
