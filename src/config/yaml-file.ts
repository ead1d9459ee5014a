// Reads a YAML file into a plain value plus the line:column of every key and value in it.
import { readFile } from 'node:fs/promises';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, rememberSource, type Loc } from './diagnostics.js';
import { emptyOrigins, pointer, type Json, type Origins, type Sourced } from './sourced.js';

export async function loadYamlFile(file: string): Promise<Sourced> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw ConfigError.one({
      message: code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file}: ${(e as Error).message}`,
      fix: 'check the path (relative paths are resolved against the file that names them)',
    });
  }
  return parseYaml(text, file);
}

export function parseYaml(text: string, file: string): Sourced {
  rememberSource(file, text);
  const lineCounter = new LineCounter();
  // uniqueKeys: a key written twice is an error (YAML says so; silently keeping one hides typos).
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number, end?: number): Loc => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col, length: end !== undefined ? Math.max(1, end - offset) : 1 };
  };
  // Only the first syntax error: the rest are usually its echoes further down.
  const first = doc.errors[0];
  if (first) {
    const loc = at(first.pos[0], first.pos[1]);
    const line = text.split(/\r?\n/)[loc.line - 1] ?? '';
    throw ConfigError.one({
      loc,
      message: `invalid YAML: ${first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
      fix: line.includes('${{')
        ? 'inside [ ] or { } a ${{ … }} reference must be quoted: "${{ config.x }}" (or use block style, one key per line)'
        : 'fix the YAML syntax at this place (indentation, a missing colon or quote)',
    });
  }
  const origins = emptyOrigins();
  walk(doc, doc.contents, '', origins, at);
  const value = (doc.toJS({ maxAliasCount: 1000 }) ?? {}) as Json;
  return { value, origins };
}

type At = (offset: number, end?: number) => Loc;

function walk(doc: Document, node: unknown, ptr: string, origins: Origins, at: At): void {
  if (isAlias(node)) return walk(doc, node.resolve(doc), ptr, origins, at);
  const range = (node as Node | null)?.range;
  if (range) origins.values.set(ptr, at(range[0], range[1]));
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const child = ptr + pointer([key]);
      const keyRange = (pair.key as Node | null)?.range;
      if (keyRange) origins.keys.set(child, at(keyRange[0], keyRange[1]));
      walk(doc, pair.value, child, origins, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => walk(doc, item, ptr + pointer([i]), origins, at));
  }
}
