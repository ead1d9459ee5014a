// model.json + weights.bin on disk for any backend. tfjs-node's `file://` handler exists only on
// the native backend; the same files written and read here work on pure JS too, and are exactly
// what tf.loadLayersModel('file://…/model.json') reads.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';

const WEIGHTS = 'weights.bin';

export function fileSaveHandler(tf: Tf, dir: string): io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
    const manifest = [{ paths: [WEIGHTS], weights: artifacts.weightSpecs ?? [] }];
    const json = { modelTopology: artifacts.modelTopology, format: artifacts.format ?? 'layers-model', generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy ?? null, weightsManifest: manifest, ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}) };
    const data = artifacts.weightData ? new Uint8Array(artifacts.weightData as ArrayBuffer) : new Uint8Array(0);
    // Weights first, model.json last (each via rename): a model.json always has its weights.
    await writeFile(path.join(dir, `${WEIGHTS}.tmp`), data);
    await rename(path.join(dir, `${WEIGHTS}.tmp`), path.join(dir, WEIGHTS));
    await writeFile(path.join(dir, 'model.json.tmp'), JSON.stringify(json));
    await rename(path.join(dir, 'model.json.tmp'), path.join(dir, 'model.json'));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.byteLength } };
  });
}

export async function fileLoadHandler(tf: Tf, dir: string): Promise<io.IOHandler> {
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[]; userDefinedMetadata?: object };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const parts = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(path.join(dir, p))));
  const all = Buffer.concat(parts);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
  return tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata as Record<string, unknown> } : {}) });
}
