import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadCatalog } from '../catalog/catalog.js';
import { FasopError } from '../errors.js';
import { defaultProfileDir, packageRoot } from '../paths.js';
import { ProfileDb } from '../profiles/db.js';
import { readHostIssueProfile } from '../profiles/host-issue.js';
import { compareRecords, formatComparison } from '../validate/compare.js';
import { readValidationRecords } from '../validate/records.js';
import { formatPublished, scorePublished } from '../validate/published.js';
import { holdsPublishedSets, readPublishedSets } from '../validate/published-records.js';
import type { CliIo } from './io.js';

/** Options of the measured-run comparison that do nothing when scoring published measurements. */
const RUN_ONLY = [['graphProfileDir', '--graph-profile-dir'], ['estimator', '--estimator'], ['calibration', '--calibration'], ['hostProfile', '--host-profile'], ['hostSpeed', '--no-host-speed']] as const;

/** `fasop validate DIR`: estimated vs measured step time and memory of real training runs; `--published [DIR]`: of published configurations. */
export function validateCommand(io: CliIo): Command {
  return new Command('validate')
    .description('compare estimates with measured training runs (validation/results/*.json): per-plan errors, MAPE, best-plan agreement')
    .argument('[dir]', 'folder of validation result JSON files (with --published: of published measurements, default the shipped validation/published)')
    .option('--published', 'score published measurements of named configurations (validation/published/*.json) with the default estimator')
    .option('--profile-dir <dir>', 'profiles to estimate with (default: the shipped profiles/)')
    .option('--graph-profile-dir <dir>', 'profiles timed as CUDA-graph replays, for runs captured with --cuda-graph (default: <profile-dir>/graph)')
    .option('--estimator <name...>', 'estimators to compare', ['fasop', 'reference'])
    .option('--catalog <file>', 'extra catalog JSON', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--calibration <scenario...>', 'scenarios any constant was read from; reported apart from the held-out ones', ['llama8b-4L gbs16 2xH100'])
    .option('--host-profile <file>', 'CPU issue figures of the host the runs ran on (profiler/host_issue.py), for eager runs, instead of the recipe\'s')
    .option('--no-host-speed', 'do not scale CPU issue figures to the host speed a run recorded (policy host-speed)')
    .action(async (dir: string | undefined, opts: { published?: boolean; profileDir?: string; graphProfileDir?: string; estimator: string[]; catalog: string[]; calibration: string[]; hostProfile?: string; hostSpeed: boolean }, cmd: Command) => {
      if (opts.published) {
        const given = RUN_ONLY.filter(([key]) => cmd.getOptionValueSource(key) === 'cli').map(([, flag]) => flag);
        if (given.length) throw new FasopError(`${given.join(', ')} ${given.length > 1 ? 'do' : 'does'} nothing with --published (published configurations are scored with the default estimator and recipe)`, `drop ${given.join(', ')}, or drop --published`);
        const catalog = loadCatalog(opts.catalog);
        const profiles = ProfileDb.open(opts.profileDir ?? defaultProfileDir());
        const sets = readPublishedSets(dir === undefined ? join(packageRoot(), 'validation', 'published') : resolve(io.cwd, dir));
        io.out(formatPublished(await scorePublished(sets, catalog, profiles)));
        return;
      }
      if (dir === undefined) throw new FasopError('fasop validate needs a folder of validation results', 'pass one, e.g. fasop validate validation/results, or score the published measurements with fasop validate --published');
      const catalog = loadCatalog(opts.catalog);
      const profileDir = opts.profileDir ?? defaultProfileDir();
      const profiles = ProfileDb.open(profileDir);
      const graphDir = opts.graphProfileDir ?? join(profileDir, 'graph');
      const graphProfiles = opts.graphProfileDir !== undefined || existsSync(graphDir) ? ProfileDb.open(graphDir) : undefined;
      const hostProfile = opts.hostProfile === undefined ? undefined : readHostIssueProfile(resolve(io.cwd, opts.hostProfile));
      if (holdsPublishedSets(resolve(io.cwd, dir))) throw new FasopError(`${dir} holds published measurements, not validation results`, `score them with fasop validate --published ${dir}`);
      const records = readValidationRecords(resolve(io.cwd, dir));
      const blocks: string[] = [];
      for (const name of opts.estimator) {
        const s = await compareRecords(records, catalog, profiles, name as 'fasop' | 'reference', opts.calibration, graphProfiles, name === 'fasop' ? hostProfile : undefined, opts.hostSpeed);
        blocks.push(formatComparison(s));
      }
      io.out(blocks.join('\n\n'));
    });
}
