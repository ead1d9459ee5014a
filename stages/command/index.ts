// `command`: a user's own shell step with declared deps and outs, like a DVC stage.
import type { StageKind } from '../../src/stage-api.js';

export interface CommandParams {
  run: string;
  deps?: string[];
  outs?: string[];
  metrics?: string;
  env?: Record<string, string | number | boolean>;
  persistent_work?: boolean;
}

export const kind: StageKind<CommandParams> = {
  version: '1',
  description: 'run a shell command that writes its outputs to $FACEPIPE_OUT',
  // A user's own training script can checkpoint into $FACEPIPE_WORK and resume after a failure.
  persistentWork: (p) => p.persistent_work === true,
  async run(ctx) {
    const { runCommand } = await import('./run.js');
    await runCommand(ctx);
  },
};
