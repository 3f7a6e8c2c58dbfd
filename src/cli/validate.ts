import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadCatalog } from '../catalog/catalog.js';
import { defaultProfileDir } from '../paths.js';
import { ProfileDb } from '../profiles/db.js';
import { compareRecords, formatComparison } from '../validate/compare.js';
import { readValidationRecords } from '../validate/records.js';
import type { CliIo } from './io.js';

/** `fasop validate DIR`: estimated vs measured step time and memory of real training runs. */
export function validateCommand(io: CliIo): Command {
  return new Command('validate')
    .description('compare estimates with measured training runs (validation/results/*.json): per-plan errors, MAPE, best-plan agreement')
    .argument('<dir>', 'folder of validation result JSON files')
    .option('--profile-dir <dir>', 'profiles to estimate with (default: the shipped profiles/)')
    .option('--estimator <name...>', 'estimators to compare', ['fasop', 'reference'])
    .option('--catalog <file>', 'extra catalog JSON', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--calibration <scenario...>', 'scenarios any constant was read from; reported apart from the held-out ones', ['llama8b-4L gbs16 2xH100'])
    .action(async (dir: string, opts: { profileDir?: string; estimator: string[]; catalog: string[]; calibration: string[] }) => {
      const catalog = loadCatalog(opts.catalog);
      const profiles = ProfileDb.open(opts.profileDir ?? defaultProfileDir());
      const records = readValidationRecords(resolve(io.cwd, dir));
      const blocks: string[] = [];
      for (const name of opts.estimator) {
        const s = await compareRecords(records, catalog, profiles, name as 'fasop' | 'reference', opts.calibration);
        blocks.push(formatComparison(s));
      }
      io.out(blocks.join('\n\n'));
    });
}
