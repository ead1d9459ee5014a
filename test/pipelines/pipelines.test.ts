// Every shipped pipeline validates, and the published models' pipelines plan cleanly.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { facepipe, repoRoot, tempDir } from '../helpers.js';

test('every pipeline in pipelines/ validates', async () => {
  for (const f of (await readdir(path.join(repoRoot, 'pipelines'))).filter((n) => n.endsWith('.yaml'))) {
    const r = await facepipe(['validate', path.join('pipelines', f)], { cwd: repoRoot });
    assert.equal(r.exitCode, 0, `${f}: ${r.all}`);
  }
});

test('model-c --dry-run shows what it would download, convert and train, and runs nothing', async (t) => {
  const runs = await tempDir(t);
  const r = await facepipe(['run', 'pipelines/model-c.yaml', '--dry-run', '--runs-dir', runs], { cwd: repoRoot });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /▶ run +download .*\n.*\n +▶ run +convert \(convert, key [0-9a-f]{12}\) ← download\n.*\n +▶ run +train \(train, key [0-9a-f]{12}\) ← convert/);
  const local = await facepipe(['plan', 'pipelines/model-a.yaml', '--runs-dir', runs, '-S', 'dataset.source={path: /nonexistent/faces_webface_112x112}'], { cwd: repoRoot });
  assert.equal(local.exitCode, 2);
  assert.match(local.stderr, /input '\/nonexistent\/faces_webface_112x112' of stage 'download' cannot be read/);
});
