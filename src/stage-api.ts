// The contract between the runner and a stage kind (`stages/<kind>/index.ts`).
//
// A kind's index module must stay cheap to import: the runner imports it in-process to read its
// metadata when planning (a no-op re-run must not pay for TensorFlow). The real work lives behind
// `run`, which the runner only calls inside the stage's own child process.

/** Progress of a running stage, shown by the runner as a bar with a rate. */
export interface Progress {
  /** Units done so far (records, bytes, steps, …). */
  done: number;
  /** Total units, when known. */
  total?: number;
  /** What is counted: 'records', 'B', 'steps', 'images'. Bytes ('B') are shown as MB/s. */
  unit?: string;
  /** A short free-text status: current shard, loss, … */
  note?: string;
}

/** A scalar metric a stage reports; kept in its manifest and the run record. */
export type MetricValue = number | string | boolean | null;
export type Metrics = Record<string, MetricValue>;

/** Everything a running stage gets from the runner. */
export interface StageContext<P = Record<string, unknown>> {
  /** The stage's name in the pipeline. */
  name: string;
  /** Validated parameters (`with:`), with every `${{ … }}` reference replaced by its value. */
  params: P;
  /** Write outputs here. It is a fresh temporary directory, moved into the store only on success. */
  outDir: string;
  /**
   * A directory that survives failed attempts of this exact stage key (checkpoints, partial
   * downloads). Only for kinds with `persistentWork`; removed once the stage succeeds.
   */
  workDir: string | undefined;
  /** The pipeline file's directory: relative paths in params resolve against it. */
  baseDir: string;
  /** Finished upstream stages by name. */
  upstream: Record<string, { outDir: string; metrics: Metrics }>;
  /**
   * Content digests (`sha256:…`; folders as a tree digest) of the stage's input paths, keyed by
   * absolute path, as the runner already knows them — record provenance without re-reading.
   */
  inputDigests: Record<string, string>;
  /** Aborted when the user presses Ctrl-C or the runner is stopped: save state and return. */
  signal: AbortSignal;
  progress(p: Progress): void;
  /** Merge scalar metrics into the stage's result (last value per name wins). */
  metrics(m: Metrics): void;
  /** A line for the stage's log file (not shown in the live view). */
  log(line: string): void;
}

/** Resources a stage asks the scheduler for, beyond one of the runner's job slots. */
export interface Resources {
  /** Runs alone: no other stage of this runner runs at the same time (training, benchmarks). */
  machine?: boolean;
  /** GPU slots it needs (compute stages on tfjs-node-gpu). */
  gpus?: number;
}

export interface StageKind<P = Record<string, unknown>> {
  /**
   * Implementation version: part of every cache key of this kind. Bump it whenever a change could
   * change the kind's outputs, so old cached results are not reused.
   */
  version: string;
  /** One line for `facepipe plan` and errors. */
  description: string;
  /** Loads TensorFlow: the runner sets the TF_* environment for its child process. */
  compute?: boolean;
  /** Gets a work directory that survives failed attempts (see StageContext.workDir); may depend on the parameters. */
  persistentWork?: boolean | ((params: P) => boolean);
  /**
   * The parameters that pick the work directory (default: all of them). A re-run that changes
   * parameters without changing these (still a new cache key) continues from the same work —
   * training resumes from its checkpoints with another split of the same global batch.
   */
  workParams?: (params: P) => Record<string, unknown>;
  /**
   * What `facepipe verify` may expect of a re-run: 'exact' (every output byte-identical — the
   * default), 'none' (machine-dependent, not compared), or only some outputs (globs) byte-identical
   * and some metrics (globs) equal within the stage's tolerance — e.g. training's weights are
   * reproducible, its logged wall-clock times are not.
   */
  reproducible?: 'exact' | 'none' | { outputs: string[]; metrics: string[] };
  /** The output a person wants to open (e.g. 'report.html'): printed at the end of a run. */
  headline?: string;
  /** Default resources (fixed, or from the parameters); a pipeline can override them per stage
   *  with `resources:`. */
  resources?: Resources | ((params: P) => Resources);
  /** Does the work, inside the stage's child process. Throw to fail; never exit the process. */
  run(ctx: StageContext<P>): Promise<void>;
}

/**
 * An expected failure (bad input, a command that exited non-zero): the runner shows its message
 * without a stack trace. Anything else thrown from `run` is treated as a bug and logged in full.
 */
export class StageFailure extends Error {
  override name = 'StageFailure';
}
