// What a stage's child process tells the runner over IPC, and the job it is given.
import type { Json } from '../config/sourced.js';
import type { Metrics, Progress } from '../stage-api.js';

export type ChildMessage =
  | { type: 'progress'; progress: Progress }
  | { type: 'metrics'; metrics: Metrics }
  | { type: 'environment'; environment: Record<string, unknown> }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** Written to job.json in the attempt folder; the child reads it at start. */
export interface Job {
  name: string;
  kind: string;
  params: Json;
  outDir: string;
  workDir?: string;
  baseDir: string;
  upstream: Record<string, { outDir: string; metrics: Metrics }>;
  inputDigests: Record<string, string>;
  compute: boolean;
}
