// Config errors as values that point at their source, printed like a compiler diagnostic:
//
//   error: pipelines/x.yaml:12:7  stages.train.with.lr: expected number, got string "0.1x"
//      12 |     lr: 0.1x
//         |         ^^^^
//     fix: write a number, e.g. lr: 0.1
import path from 'node:path';
import { closest, distance } from 'fastest-levenshtein';

/** A place in a file: 1-based line and column, and how many characters to underline. */
export interface Loc {
  file: string;
  line: number;
  col: number;
  length?: number;
}

export interface Diagnostic {
  loc?: Loc;
  /** Dotted key path of the offending value, e.g. `stages.train.with.lr`. */
  keyPath?: string;
  message: string;
  /** What the user should do about it. */
  fix?: string;
}

/** An expected failure caused by the user's files or arguments (exit code 2, no stack trace). */
export class ConfigError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('; '));
    this.name = 'ConfigError';
  }
  static one(d: Diagnostic): ConfigError {
    return new ConfigError([d]);
  }
}

// File texts seen by the loader, so a diagnostic can quote the offending line.
const sources = new Map<string, string>();

export function rememberSource(file: string, text: string): void {
  sources.set(path.resolve(file), text);
}

function displayPath(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** `file:line:col`; a location that is not in a file (a -S override) has line 0. */
export function formatLoc(loc: Loc): string {
  if (loc.line === 0) return loc.file;
  return `${displayPath(loc.file)}:${loc.line}:${loc.col}`;
}

function snippet(loc: Loc): string[] {
  const text = sources.get(path.resolve(loc.file));
  const line = text?.split(/\r?\n/)[loc.line - 1];
  if (line === undefined) return [];
  const gutter = String(loc.line).length;
  const width = Math.max(1, Math.min(loc.length ?? 1, line.length - loc.col + 1));
  return [
    `  ${String(loc.line)} | ${line}`,
    `  ${' '.repeat(gutter)} | ${' '.repeat(loc.col - 1)}${'^'.repeat(width)}`,
  ];
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.loc ? `${formatLoc(d.loc)}  ` : '';
  const key = d.keyPath ? `${d.keyPath}: ` : '';
  const lines = [`error: ${where}${key}${d.message}`];
  if (d.loc) lines.push(...snippet(d.loc));
  if (d.fix) lines.push(`  fix: ${d.fix}`);
  return lines.join('\n');
}

/** The known name a typo most likely meant, if one is close enough (DVC's "Do you mean …?"). */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const guess = closest(name, known as string[]);
  return distance(name, guess) <= Math.max(2, Math.floor(name.length / 3)) ? guess : undefined;
}
