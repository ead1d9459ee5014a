// TensorBoard event files: exact Event bytes, agreement with files written by TensorBoard's and
// TensorFlow's own writers, the writer's flushing, and crash safety.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writer } from 'protobufjs';
import { FormatError } from '../../src/formats/errors.js';
import { encodeEvent, eventFileName, EventWriter, readScalars } from '../../src/formats/tensorboard.js';
import { frameTfRecord, readTfRecords, TfRecordWriter } from '../../src/formats/tfrecord.js';
import { tempDir } from '../helpers.js';

// Written by the Python `tensorboard` 2.21 package (tensorboard.summary.writer.record_writer
// .RecordWriter over event_pb2.Event(...).SerializeToString()), then hex-dumped:
//   Event(wall_time=1700000000.25, file_version='brain.Event:2')
//   Event(wall_time=1.5, step=3, summary=Summary(value=[Value(tag='loss', simple_value=0.25)]))
//   Event(wall_time=1700000010.5, step=-2, summary=Summary(value=[Value(tag='lr', simple_value=0.0)]))
const TENSORBOARD_WRITTEN =
  '1800000000000000a37f4b220900001040fc54d9411a0d627261696e2e4576656e743a32338d2fe9' +
  '1a00000000000000129bd82d09000000000000f83f10032a0d0a0b0a046c6f7373150000803ed054b255' +
  '2100000000000000017becf6090000a042fc54d94110feffffffffffffffff012a0b0a090a026c7215000000007ae78f4c';

// Written by TensorFlow 2.21: tf.summary.create_file_writer(dir), then tf.summary.scalar('loss',
// 0.5, step=1), tf.summary.text('note', 'hi', step=1), tf.summary.scalar('loss', 0.25, step=2).
// TF2 stores scalars as float tensors (tensor_content) tagged with the "scalars" plugin.
const TF2_WRITTEN =
  '3e00000000000000d9d240e709000000f090c2da411a0d627261696e2e4576656e743a3252240a2274656e736f72666c6f772e636f72652e7574696c2e6576656e74735f777269746572' +
  '17b4619f2e00000000000000c5cb57fa09c44220f090c2da4110012a210a1f0a046c6f7373420a0801120022040000003f4a0b0a090a077363616c61727308bbb6f729' +
  '0000000000000037ff5f00098e0521f090c2da4110012a1c0a1a0a046e6f7465420808071200420268694a080a060a04746578744e9812af' +
  '2e00000000000000c5cb57fa09bf0f21f090c2da4110022a210a1f0a046c6f7373420a0801120022040000803e4a0b0a090a077363616c617273c5958443';

test('encodes an Event exactly as the spec says', () => {
  // Derived by hand from event.proto / summary.proto, fields in field-number order:
  //   09 <f64 LE 1.5 = 00 00 00 00 00 00 f8 3f>   wall_time (field 1, wire type 1)
  //   10 03                                       step = 3 (field 2, varint)
  //   2a 0d                                       summary (field 5, length 13)
  //     0a 0b                                     Summary.value (field 1, length 11)
  //       0a 04 6c 6f 73 73                       Value.tag = "loss"
  //       15 <f32 LE 0.25 = 00 00 80 3e>          Value.simple_value (field 2, wire type 5)
  const expected = '09' + '000000000000f83f' + '1003' + '2a0d' + '0a0b' + '0a046c6f7373' + '15' + '0000803e';
  assert.equal(encodeEvent({ wallTime: 1.5, step: 3, scalars: [{ tag: 'loss', value: 0.25 }] }).toString('hex'), expected);
  // step 0 is omitted (proto3 default); a zero simple_value is kept (it is in a oneof).
  assert.equal(encodeEvent({ wallTime: 1.5, step: 0, scalars: [{ tag: 'x', value: 0 }] }).toString('hex'), '09000000000000f83f' + '2a0a0a080a0178' + '1500000000');
  assert.throws(() => encodeEvent({ wallTime: 1, step: 1.5 }), /step must be an integer/);
});

test('writes the same bytes as TensorBoard and reads its files and TensorFlow 2 files', async (t) => {
  const dir = await tempDir(t);
  const mine = path.join(dir, 'mine');
  const w = await TfRecordWriter.create(mine);
  await w.write(encodeEvent({ wallTime: 1700000000.25, fileVersion: 'brain.Event:2' }));
  await w.write(encodeEvent({ wallTime: 1.5, step: 3, scalars: [{ tag: 'loss', value: 0.25 }] }));
  await w.write(encodeEvent({ wallTime: 1700000010.5, step: -2, scalars: [{ tag: 'lr', value: 0 }] }));
  await w.close();
  assert.equal((await fs.readFile(mine)).toString('hex'), TENSORBOARD_WRITTEN);
  assert.deepEqual(await readScalars(mine), [
    { tag: 'loss', step: 3, value: 0.25, wallTime: 1.5 },
    { tag: 'lr', step: -2, value: 0, wallTime: 1700000010.5 },
  ]);

  const tf2 = path.join(dir, 'events.out.tfevents.1795834816.vm.1.0.v2');
  await fs.writeFile(tf2, Buffer.from(TF2_WRITTEN, 'hex'));
  const scalars = await readScalars(tf2);
  assert.deepEqual(scalars.map(({ tag, step, value }) => [tag, step, value]), [['loss', 1, 0.5], ['loss', 2, 0.25]]); // the text summary is not a scalar
  assert.ok(Math.abs(scalars[0]!.wallTime - 1795834816.504075) < 1e-6);
});

test('tensor scalars: the plugin may be named once per tag; other plugins are skipped', async (t) => {
  const file = path.join(await tempDir(t), 'events.out.tfevents.1.h');
  // Value{tag=1, tensor=8 TensorProto{dtype=1, tensor_content=4 | double_val=6}, metadata=9 {plugin_data=1 {plugin_name=1}}}
  const value = (tag: string, tensor: (w: Writer) => void, plugin?: string) => {
    const w = Writer.create().uint32(42).fork().uint32(10).fork().uint32(10).string(tag);
    tensor(w.uint32(66).fork());
    w.ldelim();
    if (plugin !== undefined) w.uint32(74).fork().uint32(10).fork().uint32(10).string(plugin).ldelim().ldelim();
    return w.ldelim().ldelim().finish();
  };
  const float32 = (v: number) => (w: Writer) => w.uint32(8).int32(1).uint32(34).bytes(new Uint8Array(new Float32Array([v]).buffer));
  const float64 = (v: number) => (w: Writer) => w.uint32(8).int32(2).uint32(50).fork().double(v).ldelim();
  const event = (step: number, summary: Uint8Array) => Buffer.concat([encodeEvent({ wallTime: 10 + step, step }), summary]);
  const w = await TfRecordWriter.create(file);
  await w.write(encodeEvent({ wallTime: 10, fileVersion: 'brain.Event:2' }));
  await w.write(event(1, value('acc', float32(0.75), 'scalars')));
  await w.write(event(2, value('acc', float64(0.875))));
  await w.write(event(3, value('hist', float32(9), 'histograms')));
  await w.write(event(4, value('hist', float32(9))));
  await w.write(event(5, value('unnamed', float32(9))));
  await w.close();
  assert.deepEqual(await readScalars(file), [
    { tag: 'acc', step: 1, value: 0.75, wallTime: 11 },
    { tag: 'acc', step: 2, value: 0.875, wallTime: 12 },
  ]);
});

test('EventWriter: file name, first event, scalars read back in order', async (t) => {
  const dir = await tempDir(t);
  assert.equal(eventFileName(1700000000.9, 'gpu-box'), 'events.out.tfevents.1700000000.gpu-box');
  const w = await EventWriter.create(dir, { host: 'testhost', startTime: 1700000000.25 });
  assert.equal(path.basename(w.file), 'events.out.tfevents.1700000000.testhost');
  const losses = [2.5, 1.25, 0.1, -3, 1e-8];
  losses.forEach((v, i) => w.scalar('train loss', v, i * 10, 1700000001 + i));
  w.scalar('learning rate', 0.0005, 40);
  await w.close();
  assert.throws(() => w.scalar('x', 1, 1), /after close/);

  for await (const first of readTfRecords(w.file)) {
    assert.ok(first.data.equals(encodeEvent({ wallTime: 1700000000.25, fileVersion: 'brain.Event:2' })));
    break; // for-await's break closes the file
  }
  const got = await readScalars(w.file);
  assert.deepEqual(got.slice(0, 5), losses.map((v, i) => ({ tag: 'train loss', step: i * 10, value: Math.fround(v), wallTime: 1700000001 + i })));
  assert.equal(got[5]!.tag, 'learning rate');
  assert.equal(got[5]!.value, Math.fround(0.0005));
  assert.ok(Math.abs(got[5]!.wallTime - Date.now() / 1000) < 60);

  await assert.rejects(EventWriter.create(dir, { host: 'testhost', startTime: 1700000000.7 }), /already exists.*pass a distinct 'suffix'/);
  const other = await EventWriter.create(dir, { host: 'testhost', startTime: 1700000000.7, suffix: '.2' });
  await other.close();
  assert.equal(path.basename(other.file), 'events.out.tfevents.1700000000.testhost.2');
});

/** Polls `f` until it returns `want` (default 1) or 5 s pass; returns its last value. */
async function eventually(f: () => Promise<number>, want = 1): Promise<number> {
  for (let i = 0; i < 250; i++, await sleep(20)) if ((await f()) === want) return want;
  return f();
}

test('EventWriter buffers, then flushes on flush(), on a timer and when its buffer fills', async (t) => {
  const dir = await tempDir(t);
  const w = await EventWriter.create(dir, { host: 'h', startTime: 1, flushIntervalMs: 60_000 });
  w.scalar('a', 1, 1, 2);
  assert.deepEqual(await readScalars(w.file), []); // only the file-version event is on disk
  await w.flush();
  assert.equal((await readScalars(w.file)).length, 1);
  await w.close();

  const timed = await EventWriter.create(dir, { host: 'h', startTime: 2, flushIntervalMs: 20 });
  timed.scalar('a', 1, 1, 3);
  assert.equal(await eventually(async () => (await readScalars(timed.file)).length), 1);
  await timed.close();

  // Each scalar event here is 39 bytes framed: every third one passes 100 bytes and starts a write.
  const small = await EventWriter.create(dir, { host: 'h', startTime: 3, flushIntervalMs: 60_000, maxPendingBytes: 100 });
  for (let i = 0; i < 10; i++) small.scalar('a', i, i, 4);
  assert.equal(await eventually(async () => (await readScalars(small.file)).length, 9), 9);
  await small.close();
});

test('a crash loses only unflushed events; a torn last record is ignored', async (t) => {
  const dir = await tempDir(t);
  const mod = JSON.stringify(new URL('../../src/formats/tensorboard.js', import.meta.url).href);
  const code = `import { EventWriter } from ${mod};
    const w = await EventWriter.create(${JSON.stringify(dir)}, { host: 'h', startTime: 5, flushIntervalMs: 60000 });
    for (let i = 0; i < 3; i++) w.scalar('loss', i, i, 6);
    await w.flush();
    w.scalar('loss', 99, 99, 7);
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code]);
  assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
  const file = path.join(dir, 'events.out.tfevents.5.h');
  assert.deepEqual((await readScalars(file)).map((s) => s.step), [0, 1, 2]);
  // A write torn by a power cut: a valid header, then only part of the data.
  const one = encodeEvent({ wallTime: 8, step: 100, scalars: [{ tag: 'loss', value: 1 }] });
  const framed = Buffer.alloc(one.length + 16);
  frameTfRecord(framed, 0, one);
  for (const keep of [5, 20, framed.length - 1]) {
    const torn = path.join(dir, `torn-${keep}`);
    await fs.writeFile(torn, Buffer.concat([await fs.readFile(file), framed.subarray(0, keep)]));
    assert.deepEqual((await readScalars(torn)).map((s) => s.step), [0, 1, 2]);
  }
});

test('a record that is not an Event is a FormatError with file and offset', async (t) => {
  const file = path.join(await tempDir(t), 'events.out.tfevents.1.h');
  const w = await TfRecordWriter.create(file);
  await w.write(encodeEvent({ wallTime: 1, fileVersion: 'brain.Event:2' }));
  await w.write(Buffer.from([0x2a, 0x7f, 0x0a])); // a summary claiming 127 bytes
  await w.close();
  await assert.rejects(readScalars(file), (e: unknown) => e instanceof FormatError && e.file === file && e.offset! > 16 && /not a valid tensorflow\.Event/.test(e.message));
});
