// The report stage at the end of a real (tiny) pipeline — synth → convert → train → evaluate →
// report — and `facepipe report` comparing two runs of it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { ReportData } from '../../../src/report/model.js';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';
import { figures, linePaths } from '../../report/fixtures.js';

// The held-out pairs are copied to lfw.bin so the published model-a numbers have a row to meet.
const PIPELINE = `name: tiny
stages:
  faces:
    uses: synth
    with: {identities: 4, images_per_identity: 3, holdout_identities: 5, pairs: 20}
  sets:
    uses: command
    with: {run: 'cp "\${{ stages.faces.out }}/holdout.bin" "$FACEPIPE_OUT/lfw.bin"', outs: [lfw.bin]}
  shards:
    uses: convert
    with: {input: "\${{ stages.faces.out }}", shards: 1}
  train:
    uses: train
    with:
      data: \${{ stages.shards.out }}
      steps: 3
      batch_size: 6
      lr: {kind: constant, initial: 0.01}
      model: {depth: 18, widths: [4, 8, 8, 8], stem: 4, embedding: 16}
      log_every: 1
  evaluate:
    uses: evaluate
    with: {model: "\${{ stages.train.out }}/model", data: "\${{ stages.sets.out }}", datasets: [lfw]}
  report:
    uses: report
    with: {evaluate: "\${{ stages.evaluate.out }}", train: "\${{ stages.train.out }}", title: Tiny IR-ResNet on synthetic faces, reference: model-a}
`;

interface Stage {
  name: string;
  status: string;
  outDir: string;
  metrics: Record<string, number>;
}

test('the report stage writes report.html/.md/.json from the real outputs, and facepipe report compares two runs', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE });
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  const stages = (JSON.parse(r.stdout) as { stages: Stage[] }).stages;
  const rep = stages.find((s) => s.name === 'report')!;
  const ev = stages.find((s) => s.name === 'evaluate')!;
  assert.equal(rep.status, 'ran');
  assert.deepEqual((await readdir(rep.outDir)).filter((f) => f !== 'manifest.json').sort(), ['charts', 'report.html', 'report.json', 'report.md']);

  const metrics = JSON.parse(await readFile(path.join(ev.outDir, 'metrics.json'), 'utf8')) as { datasets: { lfw: { accuracy: number; std: number } } };
  const lfw = metrics.datasets.lfw;
  const data = JSON.parse(await readFile(path.join(rep.outDir, 'report.json'), 'utf8')) as ReportData;
  assert.equal(data.title, 'Tiny IR-ResNet on synthetic faces');
  assert.equal(data.runs[0]!.evaluate.datasets.lfw!.accuracy, lfw.accuracy, 'the evaluate stage’s number, unchanged');
  assert.equal(data.runs[0]!.train!.steps, 3);
  assert.equal(data.deltas['this run']!.lfw, lfw.accuracy - 0.9772);
  assert.equal(rep.metrics.lfw_accuracy, lfw.accuracy);
  assert.equal(rep.metrics['lfw_vs_model-a'], lfw.accuracy - 0.9772);
  assert.equal(rep.metrics.charts, 7);

  const md = await readFile(path.join(rep.outDir, 'report.md'), 'utf8');
  const acc = `${lfw.accuracy.toFixed(5)}+-${lfw.std.toFixed(5)}`.replace(/[.+]/g, (c) => `\\${c}`);
  assert.match(md, new RegExp(`\\| lfw \\| \\*\\*${acc}\\*\\* \\| .* \\| 20 \\| 0\\.9772 \\| -0\\.\\d{4} \\|`));
  assert.match(md, /\| backbone \| IR-ResNet-18, widths 4\/8\/8\/8, stem 4 \|/);
  const html = await readFile(path.join(rep.outDir, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /https?:|<script|\bsrc=/);
  const charts = figures(html);
  assert.deepEqual([...charts.keys()], ['roc-lfw', 'loss', 'inference-loss', 'regularization-loss', 'train-accuracy', 'lr', 'throughput']);
  for (const [id, svg] of charts) assert.ok(linePaths(svg).length > 0, `${id} is drawn`);

  // The report is cached like any stage: a re-run changes nothing.
  const again = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  assert.equal((JSON.parse(again.stdout) as { stages: Stage[] }).stages.find((s) => s.name === 'report')!.status, 'cached');

  // A second run with another learning rate; then the two side by side.
  const first = (await readdir(path.join(dir, 'runs', 'tiny'))).filter((d) => d !== 'latest').sort()[0]!;
  const second = await facepipe(['run', 'p.yaml', '-S', 'stages.train.with.lr.initial=0.05'], { cwd: dir });
  assert.equal(second.exitCode, 0, second.all);
  const cmp = await facepipe(['report', 'tiny', `runs/tiny/${first}`, '--out', 'cmp'], { cwd: dir });
  assert.equal(cmp.exitCode, 0, cmp.all);
  assert.match(cmp.stdout, /^report: cmp\/report\.html {2}\(also report\.md, report\.json, charts\/: 2 runs, 1 dataset, 7 charts/);
  const both = JSON.parse(await readFile(path.join(dir, 'cmp', 'report.json'), 'utf8')) as ReportData;
  assert.equal(both.runs.length, 2);
  assert.deepEqual(both.runs.map((x) => x.train?.steps), [3, 3], 'each evaluate found the train stage it evaluated');
  assert.deepEqual(both.references.map((x) => x.name), ['model-a'], "the runs' report stage named the published model");
  assert.match(both.runs[0]!.train!.config.find(([k]) => k === 'learning rate')![1], /constant 0\.05/);
  assert.match(both.runs[1]!.train!.config.find(([k]) => k === 'learning rate')![1], /constant 0\.01/);
  const cmpCharts = figures(await readFile(path.join(dir, 'cmp', 'report.html'), 'utf8'));
  assert.equal(linePaths(cmpCharts.get('lr')!).length, 2, 'one learning-rate line per run');
  assert.ok(existsSync(path.join(dir, 'cmp', 'charts', 'roc-lfw.svg')));
});
