import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseOverride } from '../../src/config/overrides.js';
import { loadPipeline } from '../../src/config/pipeline.js';
import { tempDir, writeFiles } from '../helpers.js';

async function failure(file: string, overrides: string[] = []): Promise<string> {
  try {
    await loadPipeline(file, overrides.map(parseOverride));
  } catch (e) {
    if (e instanceof ConfigError) return e.diagnostics.map(formatDiagnostic).join('\n');
    throw e;
  }
  assert.fail(`expected ${file} to be rejected`);
}

test('includes, extends and -S overrides merge in order and keep types', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'configs/base.yaml': 'train:\n  lr: 0.1\n  steps: 100\n  flip: true\n  milestones: [10, 20]\n',
    'configs/small.yaml': 'extends: base.yaml\ntrain:\n  steps: 5\n',
    'p.yaml': [
      'include: [configs/small.yaml]',
      'config:',
      '  train:',
      '    name: tiny',
      '  vars:',
      '    SEED: ${{ config.train.steps }}',
      '    FLIP: true',
      'stages:',
      '  a:',
      '    uses: command',
      '    with:',
      '      run: echo ${{ config.train.lr }} ${{ config.train.name }} > $FACEPIPE_OUT/x',
      '      env: ${{ config.vars }}',
      '',
    ].join('\n'),
  });
  const p = await loadPipeline(path.join(dir, 'p.yaml'), [parseOverride('train.lr=0.05'), parseOverride('+train.extra=[1, 2]')]);
  assert.deepEqual(p.config, { train: { lr: 0.05, steps: 5, flip: true, milestones: [10, 20], name: 'tiny', extra: [1, 2] }, vars: { SEED: 5, FLIP: true } });
  assert.equal(p.stages.a!.params.run, 'echo 0.05 tiny > $FACEPIPE_OUT/x');
  assert.equal(p.name, 'p');
  // A whole-value reference copies the typed value, references inside config included.
  assert.deepEqual(p.stages.a!.params.env, { SEED: 5, FLIP: true });
});

test('malformed YAML is reported at file:line:col', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with: {run: "x"\n' });
  const msg = await failure(path.join(dir, 'p.yaml'));
  assert.match(msg, /p\.yaml:\d+:\d+ +invalid YAML/);
});

test('only the first YAML error is shown, with a hint for ${{ }} inside a flow mapping', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with: {run: ${{ config.x }}}\n' });
  const msg = await failure(path.join(dir, 'p.yaml'));
  assert.equal(msg.match(/^error:/gm)?.length, 1);
  assert.match(msg, /p\.yaml:4:\d+ +invalid YAML/);
  assert.match(msg, /fix: .*quote/);
});

test('a duplicate key is an error at its second occurrence', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    uses: command\n' });
  assert.match(await failure(path.join(dir, 'p.yaml')), /p\.yaml:4:5 +invalid YAML: Map keys must be unique/);
});

test('an unknown key in the pipeline gets a did-you-mean and its line', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    wiht:\n      run: x\n' });
  const msg = await failure(path.join(dir, 'p.yaml'));
  assert.match(msg, /p\.yaml:4:5 +stages\.a\.wiht: unknown key 'wiht'; did you mean 'with'\?/);
  assert.match(msg, /\n {2}4 \| {5}wiht:\n {4}\| {5}\^{4}\n/);
});

test("an unknown key in a stage's parameters is checked by the kind's schema", async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with:\n      run: x\n      outz: [a]\n' });
  assert.match(await failure(path.join(dir, 'p.yaml')), /p\.yaml:6:7 +stages\.a\.with\.outz: unknown key 'outz'; did you mean 'outs'\?/);
});

test('a wrong type names what was expected and what was found', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'concurrency: two\nstages:\n  a:\n    uses: command\n    with: {run: x}\n' });
  assert.match(await failure(path.join(dir, 'p.yaml')), /p\.yaml:1:14 +concurrency: expected integer, got string "two"/);
});

test('a bad value that came from a config file points into that file', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'configs/c.yaml': 'cmd:\n  run: 42\n',
    'p.yaml': 'include: [configs/c.yaml]\nstages:\n  a:\n    uses: command\n    with: ${{ config.cmd }}\n',
  });
  assert.match(await failure(path.join(dir, 'p.yaml')), /configs\/c\.yaml:2:8 +stages\.a\.with\.run: expected string, got number 42/);
});

test('a cycle between stages is an error naming the cycle', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': 'stages:\n  a:\n    uses: command\n    needs: [b]\n    with: {run: x}\n  b:\n    uses: command\n    with: {run: "cat ${{ stages.a.out }}/x"}\n',
  });
  assert.match(await failure(path.join(dir, 'p.yaml')), /p\.yaml:4:12 +stages\.a\.needs: the stages depend on each other in a cycle: a → b → a/);
});

test('an unknown stage kind, a dangling need and a dangling reference are errors', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': 'stages:\n  a:\n    uses: comand\n  b:\n    uses: command\n    needs: [aa]\n    with: {run: "cat ${{ stages.zz.out }}"}\n',
  });
  const msg = await failure(path.join(dir, 'p.yaml'));
  assert.match(msg, /p\.yaml:3:11 +stages\.a\.uses: unknown stage kind 'comand'; did you mean 'command'\?/);
  assert.match(msg, /p\.yaml:6:13 +stages\.b\.needs\.0: unknown stage 'aa'; did you mean 'a'\?/);
  assert.match(msg, /stages\.b\.with: unknown stage 'zz'/);
});

test('-S on a key that does not exist suggests the nearest one', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'config:\n  train: {lr: 0.1}\nstages:\n  a:\n    uses: command\n    with: {run: x}\n' });
  const msg = await failure(path.join(dir, 'p.yaml'), ['train.lrr=0.2']);
  assert.match(msg, /command line: -S train\.lrr=0\.2 +no key 'lrr' under train; did you mean 'lr'\?/);
});

test('-S can change a stage parameter, and the result is validated', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with: {run: x}\n' });
  const p = await loadPipeline(path.join(dir, 'p.yaml'), [parseOverride('stages.a.with.run=echo hi')]);
  assert.equal(p.stages.a!.params.run, 'echo hi');
  assert.match(await failure(path.join(dir, 'p.yaml'), ['stages.a.with.run=3']), /command line: -S stages\.a\.with\.run=3 +stages\.a\.with\.run: expected string, got number 3/);
});

test('sweep syntax in -S is refused with a fix, not silently taken as a string', () => {
  assert.throws(() => parseOverride('train.lr=0.1,0.2'), /sweep syntax/);
  assert.deepEqual(parseOverride('train.milestones=[1,2]').value, [1, 2]);
});

test('config files that extend each other in a cycle are an error', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'c1.yaml': 'extends: c2.yaml\n',
    'c2.yaml': 'extends: c1.yaml\n',
    'p.yaml': 'include: [c1.yaml]\nstages:\n  a:\n    uses: command\n    with: {run: x}\n',
  });
  assert.match(await failure(path.join(dir, 'p.yaml')), /cycle: p\.yaml → c1\.yaml → c2\.yaml → c1\.yaml/);
});
