// The stamp is the only sign of a finished build: it must not appear when verification fails.
// Uses hard-linked copies of the real cached build (instant, no extra disk) in a temp cache dir.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { commitBuild, readStamp, type Stamp } from '../../src/backend/commit.js';
import { packageDirIn, stampPath, variantInfo } from '../../src/backend/paths.js';
import { verifyNative } from '../../src/backend/verify.js';
import { linkCopy, realBuild, tempDir } from './helpers.js';

let built = '';
before(async () => { built = await realBuild(); }, { timeout: 20 * 60_000 });

const stampFields = (): Omit<Stamp, 'tensorflowRuntimeVersion'> => ({
  variant: 'cpu', npmPackage: '@tensorflow/tfjs-node', tfjsNodeVersion: '4.22.0', tensorflowVersion: '2.21.0',
  wheel: 'test.whl', node: process.version, nodeAbi: process.versions.modules, napi: '8',
  platform: process.platform, arch: process.arch, builtAt: new Date().toISOString(), buildSeconds: 0,
});

/** A staging dir holding a hard-linked copy of the real build, minus its stamp. */
async function stagedCopy(): Promise<{ staging: string; target: string }> {
  const root = join(await tempDir(), 'native');
  await mkdir(root);
  const staging = join(root, '.staging-test');
  await linkCopy(built, staging);
  await unlink(stampPath(staging));
  return { staging, target: join(root, variantInfo('cpu').dirName) };
}

test('a build that fails verification is not stamped and not installed', async (t) => {
  if (!built) return t.skip('no cached build (the project\'s own tfjs-node is used)');
  const { staging, target } = await stagedCopy();
  // Corrupt the copy: replace (not overwrite: the file is hard-linked) a library it needs.
  const lib = join(packageDirIn(staging, 'cpu'), 'deps', 'lib', 'libtensorflow_framework.so.2');
  await rm(lib);
  await writeFile(lib, 'not a shared library');

  await assert.rejects(
    commitBuild({ staging, target, verify: (d) => verifyNative(packageDirIn(d, 'cpu')), stamp: stampFields(), log: () => {} }),
    /does not work, so it was not installed: loading .* failed/,
  );
  assert.equal(existsSync(stampPath(staging)), false);
  assert.equal(existsSync(target), false);
  // The real build was not harmed by corrupting the copy.
  assert.equal((await verifyNative(packageDirIn(built, 'cpu'))).ok, true);
});

test('a build that passes verification is stamped and still works after the rename', async (t) => {
  if (!built) return t.skip('no cached build (the project\'s own tfjs-node is used)');
  const { staging, target } = await stagedCopy();
  await mkdir(target); // an older build in the way is replaced
  await writeFile(join(target, 'old-file'), 'x');

  const s = await commitBuild({ staging, target, verify: (d) => verifyNative(packageDirIn(d, 'cpu')), stamp: stampFields(), log: () => {} });
  assert.equal(s.tensorflowRuntimeVersion, '2.21.0');
  assert.deepEqual(await readStamp(target), s);
  assert.equal(existsSync(staging), false);
  assert.equal(existsSync(join(target, 'old-file')), false);
  const v = await verifyNative(packageDirIn(target, 'cpu'));
  assert.equal(v.ok, true, v.error);
});
