// JSON Schema validation (ajv, draft 2020-12) that reports errors at file:line:col with a fix.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { packageRoot } from '../paths.js';
import { ConfigError, didYouMean, type Diagnostic } from './diagnostics.js';
import { compileSchema } from './validators.js';
import { dotted, getAt, locate, type Json, type Origins, type Sourced } from './sourced.js';

const compiled = new Map<string, { validate: ValidateFunction; schema: JsonSchema }>();

export type JsonSchema = { [k: string]: unknown };

export function schemaPath(name: string): string {
  return path.join(packageRoot, 'schemas', `${name}.schema.json`);
}

export function loadSchema(name: string): { validate: ValidateFunction; schema: JsonSchema } {
  let entry = compiled.get(name);
  if (!entry) {
    const text = readFileSync(schemaPath(name), 'utf8');
    entry = { validate: compileSchema(name, text), schema: JSON.parse(text) as JsonSchema };
    compiled.set(name, entry);
  }
  return entry;
}

/**
 * Validates the value at `base` inside `doc` against schema `name` and throws one ConfigError
 * with every problem found.
 */
export function validateAt(doc: Sourced, base: string, name: string): void {
  const { validate } = loadSchema(name);
  const value = getAt(doc.value, base);
  if (validate(value)) return;
  const diagnostics = simplify(validate.errors ?? []).map((e) => toDiagnostic(e, doc, base, name));
  throw new ConfigError(diagnostics);
}

// With allErrors, a failed anyOf also reports every branch's own errors; keep one message per place.
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  return errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf' || !anyOfPaths.has(e.instancePath));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

function toDiagnostic(e: ErrorObject, doc: Sourced, base: string, name: string): Diagnostic {
  const ptr = base + e.instancePath;
  const origins: Origins = doc.origins;
  const where = (p: string, key = false) => ({ loc: locate(origins, p, key), keyPath: dotted(p) || '(top level)' });
  const schemaFile = `schemas/${name}.schema.json`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const allowed = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
      const guess = didYouMean(key, allowed);
      return {
        ...where(`${ptr}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, true),
        message: `unknown key '${key}'` + (guess ? `; did you mean '${guess}'?` : ''),
        fix: allowed.length ? `allowed keys here: ${allowed.join(', ')} (${schemaFile})` : `remove it (${schemaFile})`,
      };
    }
    case 'required':
      return { ...where(ptr, true), message: `missing required key '${String(p.missingProperty)}'`, fix: hint(e, String(p.missingProperty), schemaFile) };
    case 'type':
      return { ...where(ptr), message: `expected ${String(p.type).replace(/,/g, ' or ')}, got ${describe(e.data)}`, fix: hint(e, undefined, schemaFile) };
    case 'enum':
      return { ...where(ptr), message: `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${describe(e.data)}` };
    case 'anyOf':
    case 'oneOf':
      return { ...where(ptr), message: `got ${describe(e.data)}, which matches none of the allowed forms`, fix: hint(e, undefined, schemaFile) };
    default:
      return { ...where(ptr), message: `${e.message ?? 'is invalid'} (got ${describe(e.data)})`, fix: hint(e, undefined, schemaFile) };
  }
}

// The schema's own description of the value is the most useful hint we can give.
function hint(e: ErrorObject, property: string | undefined, schemaFile: string): string {
  const s = e.parentSchema as JsonSchema | undefined;
  const sub = property ? ((s?.properties as Record<string, JsonSchema> | undefined)?.[property] ?? undefined) : s;
  const desc = typeof sub?.description === 'string' ? sub.description : undefined;
  return desc ? `${desc} (${schemaFile})` : `see ${schemaFile}`;
}

/** Values of every string marked `inputPath: true` in the schema (shallow walk: properties, items). */
export function inputPaths(schema: JsonSchema, value: Json | undefined): string[] {
  if (value === undefined || value === null) return [];
  if (schema.inputPath === true && typeof value === 'string') return [value];
  const out: string[] = [];
  const props = schema.properties as Record<string, JsonSchema> | undefined;
  if (props && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, sub] of Object.entries(props)) out.push(...inputPaths(sub, value[k]));
  }
  const items = schema.items as JsonSchema | undefined;
  if (items && Array.isArray(value)) for (const v of value) out.push(...inputPaths(items, v));
  return out;
}
