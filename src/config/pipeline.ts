// Loads a pipeline file into its final, validated form: includes and `extends` merged, -S
// overrides applied, config references replaced, every stage's parameters checked by its kind's
// schema. Nothing here runs a stage.
import path from 'node:path';
import { ConfigError, type Diagnostic } from './diagnostics.js';
import { loadYamlFile } from './yaml-file.js';
import { applyOverride, type Override } from './overrides.js';
import { resolveConfigRefs } from './interpolate.js';
import { validateAt } from './schemas.js';
import { loadConfigChain } from './config-file.js';
import { clearOrigins, copyOrigins, emptyOrigins, isObject, locate, merge, type JsonObject, type Sourced } from './sourced.js';
import { buildStages, type PipelineStage } from '../pipeline/stages.js';

export interface Pipeline {
  name: string;
  /** Absolute path of the pipeline file. */
  file: string;
  /** The pipeline file's folder: relative paths in it resolve against this. */
  baseDir: string;
  concurrency: number;
  /** The pipeline's `sweep:` block, as written (see src/sweep/). */
  sweep?: JsonObject;
  /** Final hyperparameters (after includes, overrides and references). */
  config: JsonObject;
  stages: Record<string, PipelineStage>;
  /** Stage names in a dependency order (upstream first). */
  order: string[];
  /** The whole resolved document with the origin of every value, for later diagnostics. */
  doc: Sourced;
}

export async function loadPipeline(file: string, overrides: Override[] = []): Promise<Pipeline> {
  const abs = path.resolve(file);
  const raw = await loadYamlFile(abs);
  validateAt(raw, '', 'pipeline');
  const doc = await withConfig(raw, abs);
  for (const o of overrides) {
    const onStages = o.path[0] === 'stages';
    applyOverride(doc, onStages ? '' : '/config', o);
  }
  if (overrides.length > 0) validateAt(doc, '', 'pipeline');
  resolveConfigRefs(doc, '/config');
  resolveConfigRefs(doc, '/stages');
  const value = doc.value as JsonObject;
  const { stages, order } = await buildStages(doc);
  return {
    name: typeof value.name === 'string' ? value.name : path.basename(abs).replace(/\.ya?ml$/i, ''),
    file: abs,
    baseDir: path.dirname(abs),
    concurrency: typeof value.concurrency === 'number' ? value.concurrency : 1,
    ...(isObject(value.sweep) ? { sweep: value.sweep } : {}),
    config: (value.config ?? {}) as JsonObject,
    stages,
    order,
    doc,
  };
}

/** The pipeline document with `config` = included configs, then its own `config:` block. */
async function withConfig(raw: Sourced, file: string): Promise<Sourced> {
  const value = raw.value as JsonObject;
  const includes = (value.include ?? []) as string[];
  let config: Sourced = { value: {}, origins: emptyOrigins() };
  const errors: Diagnostic[] = [];
  for (const [i, inc] of includes.entries()) {
    try {
      const chain = await loadConfigChain(path.resolve(path.dirname(file), inc), [file], locate(raw.origins, `/include/${i}`));
      config = merge(config, chain);
    } catch (e) {
      if (e instanceof ConfigError) errors.push(...e.diagnostics);
      else throw e;
    }
  }
  if (errors.length > 0) throw new ConfigError(errors);
  // The pipeline's own `config:` block wins over its includes.
  const origins = emptyOrigins();
  copyOrigins(raw.origins, '', origins, '');
  clearOrigins(origins, '/config');
  copyOrigins(config.origins, '', origins, '/config');
  const base: Sourced = { value: { ...value, config: config.value }, origins };
  return isObject(value.config) ? merge(base, { value: { config: value.config }, origins: raw.origins }) : base;
}
