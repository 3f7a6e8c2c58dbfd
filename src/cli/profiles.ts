import { Command } from 'commander';
import { FasopError } from '../errors.js';
import { defaultProfileDir } from '../paths.js';
import { ProfileDb } from '../profiles/db.js';
import { formatProfileSummary } from '../report/profile-summary.js';
import type { CliIo } from './io.js';

/** `fasop profiles`: the original's profile viewer over the files of a profile directory. */
export function profilesCommand(io: CliIo): Command {
  return new Command('profiles')
    .description('show the profile files found in a profile directory (summary and per-operator breakdown, ms)')
    .option('--profile-dir <dir>', 'folder of {model}_{gpu}_{tp}.npz files (default: the shipped profiles/)')
    .option('--model <name>', 'only this model')
    .option('--gpu <type>', 'only this GPU type')
    .action((opts: { profileDir?: string; model?: string; gpu?: string }) => {
      const db = ProfileDb.open(opts.profileDir ?? defaultProfileDir());
      const entries = db.list({ model: opts.model, gpu: opts.gpu });
      if (entries.length === 0) {
        throw new FasopError(`no profile files${opts.model ? ` for model ${opts.model}` : ''}${opts.gpu ? ` on GPU ${opts.gpu}` : ''} in ${db.dir}`,
          'check --profile-dir, --model and --gpu (file names are {model}_{gpu}_{tp}.npz)');
      }
      const groups = new Map<string, typeof entries>();
      for (const e of entries) groups.set(`${e.model} on ${e.gpu}`, [...(groups.get(`${e.model} on ${e.gpu}`) ?? []), e]);
      const blocks: string[] = [];
      for (const [title, group] of groups) {
        blocks.push(formatProfileSummary(title, group.map((e) => db.get(e.model, e.gpu, e.tp))));
      }
      io.out(blocks.join('\n\n'));
    });
}
