// `doctor` and `setup`: which TensorFlow backend loads, and building the native one.
import { doctor, formatDoctor } from '../backend/doctor.js';
import { setupPython } from '../backend/python.js';
import { setup } from '../backend/setup.js';

export async function doctorCommand(o: { bench: boolean; json: boolean }): Promise<number> {
  const report = await doctor({ bench: o.bench });
  process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report) + '\n');
  return report.loadError ? 1 : 0;
}

export async function setupCommand(o: { gpu: boolean; force: boolean; quiet: boolean; python: boolean; tensorflow: boolean }): Promise<number> {
  const log = (line: string) => {
    if (!o.quiet) process.stderr.write(line + '\n');
  };
  try {
    const r = await setup({ gpu: o.gpu, force: o.force, log });
    const what = { 'already-native': 'the project\'s own package already runs natively', cached: 'already built', built: 'built' }[r.status];
    process.stdout.write(`facepipe setup: native TensorFlow ${r.tensorflowVersion} backend (${r.variant}) ready — ${what}, ${r.seconds}s\n  ${r.packageDir}\n`);
    // After the backend: with --tensorflow it reuses the wheel that setup just fetched.
    if (o.python) {
      const p = await setupPython({ tensorflow: o.tensorflow, force: o.force, log });
      const how = { cached: 'already set up', built: 'built', updated: 'TensorFlow added' }[p.status];
      const versions = Object.entries(p.packages).map(([k, v]) => `${k} ${v}`).join(', ');
      process.stdout.write(`facepipe setup: Python reference environment ready — ${how}, ${p.seconds}s\n  ${p.python} (${versions})\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`facepipe setup failed: ${(e as Error).message}\n`);
    return 1;
  }
}
