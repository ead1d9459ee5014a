// `npm run bench`: every benchmark, each printing ratios against baselines measured in the same run.
import { benchNoopRerun } from './noop-rerun.js';
import { benchConvert } from './convert.js';
import { benchJpeg } from './jpeg.js';
import { benchModel } from './model.js';
import { benchRecordio } from './recordio.js';
import { benchReplicas } from './replicas.js';
import { benchTfrecord } from './tfrecord.js';
import { benchTrainKeras } from './train-keras.js';
import { benchVerification } from './verification.js';
import { formatResult } from './timing.js';

const benches = { 'noop-rerun': benchNoopRerun, recordio: benchRecordio, jpeg: benchJpeg, tfrecord: benchTfrecord, verification: benchVerification, convert: benchConvert, model: benchModel, 'train-keras': benchTrainKeras, replicas: benchReplicas };
const only = process.argv.slice(2);
for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(formatResult(await run()));
}
