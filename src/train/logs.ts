// Training curves: metrics.jsonl (one JSON object per logged step) and TensorBoard event files,
// both in the work folder so they survive interruptions and cover the whole run across resumes.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EventWriter } from '../formats/tensorboard.js';

export interface LoggedStep {
  step: number;
  [metric: string]: number;
}

/** TensorBoard tags, named as the original project named them where it had them. */
const TAGS: Record<string, string> = {
  loss: 'train loss',
  inference_loss: 'inference loss',
  regularization_loss: 'regularization loss',
  accuracy: 'train accuracy',
  accuracy_cos: 'train accuracy (cosine logits)',
  lr: 'learning rate',
  images_per_second: 'images/s',
  reg_coef: 'regularization coefficient',
  replica_step_ms: 'replicas/step ms',
  replica_compute_ms: 'replicas/compute ms (slowest)',
  replica_overhead_ms: 'replicas/transfer and update ms',
};

export class TrainLog {
  private constructor(private readonly jsonl: string, private readonly events: EventWriter) {}

  /** Opens the logs in `dir`; after a resume at `step`, lines logged beyond it are dropped. */
  static async open(dir: string, step: number): Promise<TrainLog> {
    await mkdir(path.join(dir, 'tensorboard'), { recursive: true });
    const jsonl = path.join(dir, 'metrics.jsonl');
    const kept = (await readFile(jsonl, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() !== '' && (JSON.parse(l) as LoggedStep).step <= step);
    await writeFile(jsonl, kept.map((l) => l + '\n').join(''));
    // A new event file per attempt: TensorBoard merges the files of a folder.
    return new TrainLog(jsonl, await EventWriter.create(path.join(dir, 'tensorboard'), { suffix: `.${process.pid}` }));
  }

  async write(s: LoggedStep): Promise<void> {
    await appendFile(this.jsonl, JSON.stringify({ ...s, time: new Date().toISOString() }) + '\n');
    for (const [k, v] of Object.entries(s)) if (k !== 'step' && Number.isFinite(v)) this.events.scalar(TAGS[k] ?? k, v, s.step);
  }

  async close(): Promise<void> {
    await this.events.close();
  }
}
