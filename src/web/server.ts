import { readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { loadCatalog } from '../catalog/catalog.js';
import { RECIPES } from '../estimate/recipe.js';
import { PARTITION_METHODS } from '../request/options.js';
import { FasopError, isFasopError } from '../errors.js';
import { defaultProfileDir } from '../paths.js';
import { ProfileDb } from '../profiles/db.js';
import { loadAssets, type Asset } from './assets.js';
import type { Run } from './channel.js';
import { BusyError, SearchRunner } from './search-runner.js';
import { JsonlFollower } from './watch.js';

export interface ServeOptions {
  /** 0 picks a free port */
  port?: number;
  host?: string;
  profileDir?: string;
  /** follow this JSONL file instead of running searches */
  watch?: string;
  catalogFiles?: string[];
  /** largest request body in bytes (default 16 KiB) */
  bodyLimit?: number;
  /** longest wait for a request body in ms (default BODY_TIMEOUT_MS) */
  bodyTimeoutMs?: number;
}

export interface FasopServer {
  url: string;
  port: number;
  host: string;
  server: Server;
  mode: 'search' | 'watch';
  runner: SearchRunner | undefined;
  follower: JsonlFollower | undefined;
  close(): Promise<void>;
}

/** Most pages that follow the event stream at once (each holds a socket and a bounded queue). */
export const MAX_SSE_CLIENTS = 100;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // Only our own files; ECharts sets inline style attributes on its tooltip.
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly hint: string) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}

function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, error: string, hint: string): void {
  sendJson(res, status, { error, hint });
}

/** Longest wait for a request body (the server's request timeout is off, for the event streams). */
export const BODY_TIMEOUT_MS = 10_000;

/** Read a JSON body of at most `limit` bytes (413 above it, 400 if it is not JSON, 408 if it does not arrive in time). */
function readJsonBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const type = String(req.headers['content-type'] ?? '');
    if (!/^application\/json\b/i.test(type)) {
      reject(new HttpError(415, `the body must be JSON (Content-Type: application/json), got '${type || 'none'}'`, 'send the search as a JSON object'));
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) {
      reject(new HttpError(413, `request body too large: ${declared} bytes (limit ${limit})`, 'a search request is a small JSON object'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const timer = setTimeout(() => {
      failed = true;
      reject(new HttpError(408, `the request body did not arrive within ${timeoutMs / 1000} s`, 'send the whole JSON body with the request'));
    }, timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        clearTimeout(timer);
        reject(new HttpError(413, `request body too large: over ${limit} bytes`, 'a search request is a small JSON object'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolvePromise(text.trim() === '' ? {} : JSON.parse(text));
      } catch (err) {
        reject(new HttpError(400, `the body is not valid JSON: ${(err as Error).message}`, 'send a JSON object, e.g. {"gpus": [{"type": "A40", "nodes": 4}], "gbs": 32}'));
      }
    });
    req.on('error', reject);
  });
}

/** Start the viewer's HTTP server; resolves once it listens. */
export async function startServer(opts: ServeOptions = {}): Promise<FasopServer> {
  const host = opts.host ?? '127.0.0.1';
  const bodyLimit = opts.bodyLimit ?? 16 * 1024;
  const catalogFiles = (opts.catalogFiles ?? []).map((f) => resolve(f));
  const profileDir = resolve(opts.profileDir ?? defaultProfileDir());
  const catalog = loadCatalog(catalogFiles);
  const assets = loadAssets();
  const mode: 'search' | 'watch' = opts.watch ? 'watch' : 'search';
  const runner = mode === 'search' ? new SearchRunner({ profileDir, catalogFiles }) : undefined;
  const follower = opts.watch ? new JsonlFollower(resolve(opts.watch)) : undefined;
  let port = opts.port ?? 3000;

  const info = () => {
    let profiles: { model: string; gpu: string; tp: number }[] = [];
    let profileError: string | undefined;
    if (mode === 'search') {
      try {
        profiles = ProfileDb.open(profileDir).list().map((e) => ({ model: e.model, gpu: e.gpu, tp: e.tp }));
      } catch (err) {
        profileError = isFasopError(err) ? err.message : String(err);
      }
    }
    return {
      mode,
      watch_file: follower?.file ?? null,
      profile_dir: mode === 'search' ? profileDir : null,
      profile_error: profileError ?? null,
      profiles,
      gpus: Object.keys(catalog.gpus),
      models: Object.keys(catalog.models),
      datasets: Object.keys(catalog.datasets),
      partition_methods: [...PARTITION_METHODS],
      estimators: ['fasop', 'reference'],
      recipes: Object.keys(RECIPES),
      defaults: { model: 'llama70b', dataset: 'squad', gbs: 32, partitionMethod: 'minmax', estimator: 'fasop', precision: 16, recipe: 'megatron-mixed' },
      // what the form shows as defaults and explains: node sizes, memory, sequence lengths, budgets
      catalog: {
        gpus: Object.fromEntries(Object.values(catalog.gpus).map((g) => [g.name, { gpusPerNode: g.gpusPerNode, memoryLimit_GiB: g.memoryLimit_GiB, instance: g.instance.name, pricePerNodeHour_usd: g.instance.pricePerNodeHour_usd }])),
        models: Object.fromEntries(Object.values(catalog.models).map((m) => [m.name, { seq_length: m.seq_length, num_layers: m.num_layers, hidden_size: m.hidden_size }])),
        datasets: Object.fromEntries(Object.values(catalog.datasets).map((d) => [d.name, { samples: d.samples, tokens: d.tokens ?? null, tokensSource: d.tokensSource ?? null, description: d.description }])),
      },
    };
  };

  // /api/info changes only with the profile folder's file names: its body is kept until they change
  let infoCache: { key: string; body: string } | undefined;
  const infoBody = (): string => {
    let key: string = mode;
    if (mode === 'search') {
      try {
        key = readdirSync(profileDir).join('\0');
      } catch (err) {
        key = `unreadable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      }
    }
    if (infoCache?.key !== key) infoCache = { key, body: JSON.stringify(info()) };
    return infoCache.body;
  };

  const currentRun = (): Run | undefined => (follower ? follower.current : runner!.current);

  const status = () => {
    const run = currentRun();
    if (!run) return { mode, running: false, status: 'idle' };
    return { mode, running: run.running, status: run.status, run: run.id, ...run.progress(), elapsed_s: run.elapsedS(), info: run.info, error: run.error ?? null };
  };

  /** On loopback, answer only requests addressed to this machine by name (against DNS rebinding). */
  const checkHost = (req: IncomingMessage) => {
    const allowed = new Set([`${host.includes(':') ? `[${host}]` : host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
    const hostHeader = String(req.headers.host ?? '');
    if (LOOPBACK.has(host) && !allowed.has(hostHeader)) {
      throw new HttpError(403, `refused: Host '${hostHeader}' is not this server`, `open http://127.0.0.1:${port}/`);
    }
  };

  /** Refuse state changes from other sites (CSRF). */
  const checkOrigin = (req: IncomingMessage) => {
    const hostHeader = String(req.headers.host ?? '');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${hostHeader}`) {
      throw new HttpError(403, `refused: a request from another site (${origin})`, `use the page at http://${hostHeader}/`);
    }
  };

  const serveAsset = (req: IncomingMessage, res: ServerResponse, asset: Asset) => {
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? asset.gzip : asset.body;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      Vary: 'Accept-Encoding',
      ...(gz ? { 'Content-Encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const events = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const run = currentRun();
    if (!run) {
      res.end(`event: idle\ndata: ${JSON.stringify({ mode })}\n\n`);
      return;
    }
    if (run.clientCount() >= MAX_SSE_CLIENTS) {
      res.end(`event: busy\ndata: ${JSON.stringify({ error: `more than ${MAX_SSE_CLIENTS} pages follow this server`, hint: 'close some pages, then reload' })}\n\n`);
      return;
    }
    res.write('retry: 2000\n\n');
    run.attach(res);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    checkHost(req);
    if (method === 'GET' || method === 'HEAD') {
      const asset = assets.get(path);
      if (asset) return serveAsset(req, res, asset);
      if (path === '/health') return sendJson(res, 200, { status: 'ok' });
      if (path === '/api/info') return sendJsonText(res, 200, infoBody());
      if (path === '/api/search/status') return sendJson(res, 200, status());
      if (path === '/api/events') return events(req, res);
      if (path === '/api/search' || path === '/api/search/stop') return sendError(res, 405, `${method} ${path} is not allowed`, 'use POST');
      return sendError(res, 404, 'not found', 'the viewer is at /');
    }
    if (method === 'POST' && (path === '/api/search' || path === '/api/search/stop')) {
      checkOrigin(req);
      if (!runner) {
        req.resume();
        return sendError(res, 409, `this server follows ${follower!.file} (--watch) and does not run searches`, 'start `fasop serve` without --watch to run searches from the page');
      }
      if (path === '/api/search/stop') {
        req.resume();
        const stopped = await runner.stop();
        const run = runner.current;
        return sendJson(res, 200, stopped ? { status: 'stopped', run: run!.id, ...run!.progress() } : { status: 'not_running' });
      }
      const body = await readJsonBody(req, bodyLimit, opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
      const run = await runner.start(body);
      return sendJson(res, 202, { status: 'started', run: run.id, total: run.total });
    }
    if (['/api/search', '/api/search/stop'].includes(path)) return sendError(res, 405, `${method} ${path} is not allowed`, 'use POST');
    return sendError(res, 404, 'not found', 'the viewer is at /');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        if (err.status === 413 || err.status === 408) res.setHeader('Connection', 'close');
        sendError(res, err.status, err.message, err.hint);
      } else if (err instanceof BusyError) sendError(res, 409, err.message, err.hint);
      else if (isFasopError(err)) sendError(res, 400, err.message, err.hint);
      else {
        console.error(err);
        sendError(res, 500, `internal error: ${(err as Error)?.message ?? String(err)}`, 'this is a bug in fasop; please report it');
      }
    });
  });
  server.requestTimeout = 0; // SSE streams stay open
  server.headersTimeout = 10_000;

  await new Promise<void>((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new FasopError(`port ${port} on ${host} is already in use`, 'pass another --port (or --port 0 for a free one), or stop the program that holds it')
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
          ? new FasopError(`cannot listen on host ${host} (${err.code})`, 'pass --host 127.0.0.1, or an address of this machine')
          : err.code === 'EACCES'
            ? new FasopError(`not allowed to listen on port ${port} (${err.code})`, 'pass a --port above 1023')
            : err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
  port = (server.address() as AddressInfo).port;
  follower?.start();
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}/`,
    port,
    host,
    server,
    mode,
    runner,
    follower,
    async close() {
      await runner?.close();
      follower?.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}
