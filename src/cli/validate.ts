import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadCatalog } from '../catalog/catalog.js';
import { defaultProfileDir } from '../paths.js';
import { ProfileDb } from '../profiles/db.js';
import { readHostIssueProfile } from '../profiles/host-issue.js';
import { compareRecords, formatComparison } from '../validate/compare.js';
import { readValidationRecords } from '../validate/records.js';
import type { CliIo } from './io.js';

/** `fasop validate DIR`: estimated vs measured step time and memory of real training runs. */
export function validateCommand(io: CliIo): Command {
  return new Command('validate')
    .description('compare estimates with measured training runs (validation/results/*.json): per-plan errors, MAPE, best-plan agreement')
    .argument('<dir>', 'folder of validation result JSON files')
    .option('--profile-dir <dir>', 'profiles to estimate with (default: the shipped profiles/)')
    .option('--graph-profile-dir <dir>', 'profiles timed as CUDA-graph replays, for runs captured with --cuda-graph (default: <profile-dir>/graph)')
    .option('--estimator <name...>', 'estimators to compare', ['fasop', 'reference'])
    .option('--catalog <file>', 'extra catalog JSON', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--calibration <scenario...>', 'scenarios any constant was read from; reported apart from the held-out ones', ['llama8b-4L gbs16 2xH100'])
    .option('--host-profile <file>', 'CPU issue figures of the host the runs ran on (profiler/host_issue.py), for eager runs, instead of the recipe\'s')
    .option('--no-host-speed', 'do not scale CPU issue figures to the host speed a run recorded (policy host-speed)')
    .action(async (dir: string, opts: { profileDir?: string; graphProfileDir?: string; estimator: string[]; catalog: string[]; calibration: string[]; hostProfile?: string; hostSpeed: boolean }) => {
      const catalog = loadCatalog(opts.catalog);
      const profileDir = opts.profileDir ?? defaultProfileDir();
      const profiles = ProfileDb.open(profileDir);
      const graphDir = opts.graphProfileDir ?? join(profileDir, 'graph');
      const graphProfiles = opts.graphProfileDir !== undefined || existsSync(graphDir) ? ProfileDb.open(graphDir) : undefined;
      const hostProfile = opts.hostProfile === undefined ? undefined : readHostIssueProfile(resolve(io.cwd, opts.hostProfile));
      const records = readValidationRecords(resolve(io.cwd, dir));
      const blocks: string[] = [];
      for (const name of opts.estimator) {
        const s = await compareRecords(records, catalog, profiles, name as 'fasop' | 'reference', opts.calibration, graphProfiles, name === 'fasop' ? hostProfile : undefined, opts.hostSpeed);
        blocks.push(formatComparison(s));
      }
      io.out(blocks.join('\n\n'));
    });
}
