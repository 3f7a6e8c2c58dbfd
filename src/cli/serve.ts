import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { FasopError } from '../errors.js';
import { startServer, type FasopServer } from '../web/server.js';
import type { CliIo } from './io.js';
import { intFlag } from './search-options.js';

interface RawServeOptions {
  port: string;
  host: string;
  profileDir?: string;
  watch?: string;
  catalog: string[];
}

/** Hooks for tests: see the server once it listens, and stop it without a signal. */
export interface ServeHooks {
  onListening?: (server: FasopServer) => void;
  /** resolves when the server should shut down (default: SIGINT or SIGTERM) */
  until?: Promise<void>;
}

/** `fasop serve`: the live Pareto viewer (docs/web.md). */
export function serveCommand(io: CliIo, hooks: ServeHooks = {}): Command {
  return new Command('serve')
    .description('live web Pareto viewer: run searches from a page in the browser (results stream as they are estimated), or follow a --parsing JSONL file')
    .option('--port <n>', 'port to listen on (0: a free one)', '3000')
    .option('--host <addr>', 'address to listen on; anything but 127.0.0.1/localhost exposes the server to the network', '127.0.0.1')
    .option('--profile-dir <dir>', 'folder of {model}_{gpu}_{tp}.npz profiles for searches (default: the shipped profiles/)')
    .option('--watch <file.jsonl>', 'follow a JSONL file written by `fasop search --parsing` instead of running searches')
    .option('--catalog <file>', 'extra catalog JSON (gpus/models/datasets) merged over the shipped one; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(async (raw: RawServeOptions) => {
      const port = intFlag(raw.port, '--port', { min: 0, max: 65535 });
      const host = raw.host.trim();
      if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new FasopError(`--host must be an address or host name, got '${raw.host}'`, 'pass e.g. --host 127.0.0.1');
      const profileDir = raw.profileDir === undefined ? undefined : resolve(io.cwd, raw.profileDir);
      if (profileDir !== undefined && !(existsSync(profileDir) && statSync(profileDir).isDirectory())) {
        throw new FasopError(`profile directory ${profileDir} does not exist or is not a directory`, 'pass an existing folder with --profile-dir, or omit the flag to use the shipped profiles');
      }
      const watch = raw.watch === undefined ? undefined : resolve(io.cwd, raw.watch);
      if (watch !== undefined && !existsSync(dirname(watch))) {
        throw new FasopError(`--watch: the folder of ${watch} does not exist`, 'pass the JSONL path given to `fasop search --parsing --parsing-file`');
      }
      const server = await startServer({ port, host, profileDir, watch, catalogFiles: raw.catalog.map((f) => resolve(io.cwd, f)) });
      io.out(`fasop serve: ${server.url} (${watch ? `following ${watch}${existsSync(watch) ? '' : ', waiting for it'}` : `searches use profiles in ${profileDir ?? 'the shipped profiles/'}`})`);
      if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
        io.err(`fasop serve: warning: listening on ${host}: anyone who can reach this machine can use the viewer and start searches`);
      }
      io.out('Press Ctrl+C to stop.');
      hooks.onListening?.(server);
      await (hooks.until ?? new Promise<void>((done) => {
        const stop = () => done();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }));
      await server.close();
      io.out('fasop serve: stopped');
    });
}
