/**
 * `fasop serve` without a browser: assets and path safety, request validation, SSE streaming with
 * the CLI's numbers, one search at a time, Stop, --watch, and the CLI from src/ and from dist/.
 * The browser test is test/web-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { serveCommand } from '../src/cli/serve.js';
import { frontierCount } from '../src/web/channel.js';
import { startServer, type FasopServer } from '../src/web/server.js';
import { parseJsonlLine } from '../src/web/watch.js';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { REF_OUTPUTS, REF_PROFILES, runCli, tmp } from './helpers/cli.js';

interface SseEvent { event: string; data: any }

/** Read an SSE stream until `until` says so, the server ends it, or the timeout. */
function readSse(url: string, opts: { until?: (evs: SseEvent[]) => boolean; timeoutMs?: number } = {}): Promise<{ events: SseEvent[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    let buf = '';
    let settled = false;
    const finish = (ended: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ events, ended });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 15_000);
    const req = get(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        reject(new Error(`SSE ${url}: ${res.statusCode} ${res.headers['content-type']}`));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) events.push({ event, data: JSON.parse(data) });
        }
        if (opts.until?.(events)) finish(false);
      });
      res.on('end', () => finish(true));
    });
    req.on('error', (err) => (settled ? undefined : reject(err)));
  });
}

/** A request with the path sent byte for byte (fetch and URL would normalise `..`). */
function rawRequest(port: number, text: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(text));
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => { data += c; });
    sock.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n', 2) as [string, string];
      resolve({ status: Number(head.split(' ')[1]), head, body });
    });
    sock.on('error', reject);
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('raw request timed out')); });
  });
}

function rawGet(port: number, path: string): Promise<{ status: number; head: string; body: string }> {
  return rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
}

/** POST JSON through node:http (so the test controls every header). */
function postJson(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        } catch (err) {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may answer 413 and close before the whole body is sent.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') return;
      reject(err);
    });
    req.end(body);
  });
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ROOT = resolve(import.meta.dirname, '..');

/** The CLI's numbers for a search: run `fasop search --parsing` in-process and count its JSONL. */
async function cliCounts(args: string[]): Promise<{ total: number; done: number; valid: number; oom: number; frontier: number; jsonl: string }> {
  const dir = tmp();
  const jsonl = join(dir, 'run.jsonl');
  const r = await runCli([...args, '--profile-dir', REF_PROFILES, '--parsing', '--parsing-file', jsonl, '--no-save-csv'], dir);
  assert.equal(r.code, 0, r.err);
  return { ...countJsonl(readFileSync(jsonl, 'utf8')), jsonl };
}

function countJsonl(text: string) {
  const lines = text.split('\n').map(parseJsonlLine).filter((x) => x !== undefined);
  const pareto = lines.find((l) => l['type'] === 'pareto_meta');
  const total = pareto ? (pareto['pareto_total_count'] as number) : lines.filter((l) => l['type'] === 'meta').reduce((a, l) => a + (l['total_count'] as number), 0);
  const recs = lines.filter((l) => l['type'] === undefined) as unknown as { cost: number; throughput: number; is_oom: boolean }[];
  return { total, done: recs.length, valid: recs.filter((r) => !r.is_oom).length, oom: recs.filter((r) => r.is_oom).length, frontier: frontierCount(recs) };
}

async function withServer(opts: Parameters<typeof startServer>[0], fn: (s: FasopServer) => Promise<void>): Promise<void> {
  const s = await startServer({ port: 0, profileDir: REF_PROFILES, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const SMALL = { gpus: [{ type: 'A40', nodes: 8 }], gbs: 32, pareto: true };
const SMALL_ARGS = ['--gpus', 'A40', '8', '--gbs', '32', '--pareto'];

test('web: the page, its assets and ECharts come from the package; any other path is 404 (no traversal)', { timeout: 30_000 }, async () => {
  await withServer({}, async (s) => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'binds to 127.0.0.1 by default');
    const page = await fetch(s.url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script src="\/static\/echarts\.min\.js"/);
    assert.doesNotMatch(html, /https?:\/\//, 'no external URL in the page');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const echarts = await fetch(new URL('/static/echarts.min.js', s.url));
    assert.equal(echarts.status, 200);
    assert.equal((await echarts.arrayBuffer()).byteLength, statSync(join(ROOT, 'node_modules/echarts/dist/echarts.min.js')).size);
    for (const p of ['/static/app.js', '/static/style.css', '/index.html', '/health', '/api/info', '/api/search/status']) {
      assert.equal((await fetch(new URL(p, s.url))).status, 200, p);
    }
    const app = await (await fetch(new URL('/static/app.js', s.url))).text();
    assert.doesNotMatch(app, /https?:\/\/(?!127)/, 'the page script fetches nothing outside the server');
    const info = await (await fetch(new URL('/api/info', s.url))).json();
    assert.deepEqual(info.profiles.map((e: { tp: number }) => e.tp), [1, 2, 4, 8]);
    assert.ok(info.gpus.includes('A40') && info.models.includes('llama70b'));

    const bad = ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/static/..%2f..%2fpackage.json', '/static/../../package.json',
      '/static/%2e%2e/%2e%2e/package.json', '/static\\..\\..\\package.json', '/static/..\\..\\package.json', '/..%5c..%5cpackage.json',
      '/static/%252e%252e/package.json', '//etc/passwd', '/static/', '/static/echarts.min.js/..', '/package.json', '/src/web/server.ts',
      '/node_modules/echarts/dist/echarts.min.js', '/static/app.js%00.html', '/%c0%ae%c0%ae/etc/passwd'];
    for (const p of bad) {
      const r = await rawGet(s.port, p);
      assert.equal(r.status, 404, `${p} -> ${r.status}`);
      assert.doesNotMatch(r.body, /root:|"name": "fasop"|import /, p);
    }
    const absolute = await rawRequest(s.port, `GET http://127.0.0.1:${s.port}/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(absolute.status, 404);
    const del = await fetch(new URL('/index.html', s.url), { method: 'DELETE' });
    assert.equal(del.status, 404);
  });
});

test('web: /api/info follows the profile folder: a profile added, a misnamed file, the folder removed', { timeout: 30_000 }, async () => {
  const dir = tmp('fasop-web-info-');
  copyFileSync(join(REF_PROFILES, 'llama70b_A40_1.npz'), join(dir, 'llama70b_A40_1.npz'));
  await withServer({ profileDir: dir }, async (s) => {
    const info = async () => (await fetch(new URL('/api/info', s.url))).json();
    assert.deepEqual((await info()).profiles, [{ model: 'llama70b', gpu: 'A40', tp: 1 }]);
    assert.deepEqual((await info()).profiles, [{ model: 'llama70b', gpu: 'A40', tp: 1 }]);
    copyFileSync(join(REF_PROFILES, 'llama70b_A40_2.npz'), join(dir, 'llama70b_A40_2.npz'));
    assert.deepEqual((await info()).profiles.map((e: { tp: number }) => e.tp), [1, 2]);
    writeFileSync(join(dir, 'llama70b-A40.npz'), '');
    assert.match((await info()).profile_error, /llama70b-A40\.npz: the name does not have the form/);
    rmSync(dir, { recursive: true });
    const gone = await info();
    assert.match(gone.profile_error, /does not exist or is not a directory/);
    assert.deepEqual(gone.profiles, []);
  });
});

test('web: POST /api/search is validated like the CLI: 400 with {error, hint}, 413 when too big, 415/403 otherwise', { timeout: 30_000 }, async () => {
  await withServer({}, async (s) => {
    const api = new URL('/api/search', s.url).href;
    const post = (body: unknown, headers?: Record<string, string>) => postJson(api, typeof body === 'string' ? body : JSON.stringify(body), headers);
    let r = await post('{"gpus": [');
    assert.equal(r.status, 400);
    assert.match(r.json.error, /not valid JSON/);
    assert.ok(r.json.hint);
    r = await post({ ...SMALL, command: 'rm -rf /' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /command/);
    r = await post({ ...SMALL, profileDir: '/etc' });
    assert.equal(r.status, 400, 'the profile folder is the server\'s, not the request\'s');
    r = await post({ ...SMALL, gpus: [{ type: 'A40; cat /etc/passwd', nodes: 8 }] });
    assert.equal(r.status, 400);
    r = await post([1, 2]);
    assert.equal(r.status, 400);
    // The CLI's own messages for bad values (resolveSearchOptions / searchEvents):
    r = await post({ ...SMALL, gbs: 'abc' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /--gbs must be a whole number/);
    r = await post({ ...SMALL, gpus: [{ type: 'V100', nodes: 2 }] });
    assert.match(r.json.error, /unknown GPU type 'V100'/);
    assert.match(r.json.hint, /A40/);
    r = await post({ ...SMALL, gpus: [{ type: 'A40', nodes: 0 }] });
    assert.match(r.json.error, /node count for A40 must be a whole number >= 1/);
    r = await post({ ...SMALL, gpus: [{ type: 'H100', nodes: 1 }] });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /no profile for model llama70b on GPU H100/);
    r = await post({ ...SMALL, gpuPerNode: 65 });
    assert.match(r.json.error, /--gpu-per-node must be a whole number from 1 to 64/);
    r = await post({ ...SMALL, model: 'gpt5' });
    assert.match(r.json.error, /unknown model 'gpt5'/);
    r = await post({ ...SMALL, partitionMethod: 'magic' });
    assert.equal(r.status, 400);
    r = await post({ ...SMALL, precision: 8 });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /--precision must be 16 or 32/);
    r = await post({ ...SMALL, paretoGbsMax: -4 });
    assert.match(r.json.error, /--pareto-gbs-max must be a whole number/);
    // the technique lists, checked as the CLI checks them
    r = await post({ ...SMALL, recompute: 'none,sometimes' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /--recompute/);
    r = await post({ ...SMALL, virtualStages: 'two' });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /--virtual-stages/);
    r = await post({ ...SMALL, estimator: 'reference', dpSharding: 'optimizer' });
    assert.equal(r.status, 400, 'the reference estimator prices no technique');
    // Transport-level refusals.
    r = await post({ ...SMALL, pad: 'x'.repeat(64 * 1024) });
    assert.equal(r.status, 413);
    assert.match(r.json.error, /too large/);
    r = await postJson(api, JSON.stringify(SMALL), { 'Content-Type': 'text/plain' });
    assert.equal(r.status, 415);
    r = await post(SMALL, { Origin: 'https://evil.example' });
    assert.equal(r.status, 403);
    r = await post(SMALL, { Host: 'evil.example' });
    assert.equal(r.status, 403, 'DNS rebinding: a foreign Host header is refused');
    const rebound = await rawRequest(s.port, `GET /api/search/status HTTP/1.1\r\nHost: evil.example:${s.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(rebound.status, 403, 'also for reads');
    assert.equal((await fetch(api)).status, 405);
    const st = await (await fetch(new URL('/api/search/status', s.url))).json();
    assert.equal(st.status, 'idle', 'no refused request started a search');
    assert.equal(s.runner!.workerAlive, false);
  });
});

test('web: a search streams each plan over SSE from a worker; counts equal the CLI\'s for the same search', { timeout: 60_000 }, async () => {
  const cli = await cliCounts(SMALL_ARGS);
  assert.ok(cli.valid > 0 && cli.frontier > 1 && cli.oom > 0, JSON.stringify(cli));
  await withServer({}, async (s) => {
    const idle = await readSse(new URL('/api/events', s.url).href);
    assert.deepEqual(idle.events.map((e) => e.event), ['idle']);
    const started = await postJson(new URL('/api/search', s.url).href, JSON.stringify(SMALL));
    assert.equal(started.status, 202, JSON.stringify(started.json));
    assert.equal(started.json.total, cli.total);
    const { events, ended } = await readSse(new URL('/api/events', s.url).href, { timeoutMs: 45_000 });
    assert.ok(ended, 'the server ends the stream after the final event');
    assert.equal(events[0]!.event, 'start');
    assert.equal(events[0]!.data.total, cli.total);
    const last = events.at(-1)!;
    assert.equal(last.event, 'done');
    const results = events.filter((e) => e.event === 'result').map((e) => e.data);
    assert.equal(results.length, cli.total);
    assert.deepEqual(results.map((r) => r.index), results.map((_, i) => i + 1));
    assert.deepEqual({ done: last.data.done, total: last.data.total, valid: last.data.valid, oom: last.data.oom, frontier: last.data.frontier },
      { done: cli.done, total: cli.total, valid: cli.valid, oom: cli.oom, frontier: cli.frontier });
    assert.equal(frontierCount(results), cli.frontier);
    // small payloads: the record's fields, not the estimate's breakdown
    assert.ok(JSON.stringify(results[0]).length < 600);
    assert.deepEqual(Object.keys(results[0]).sort(), ['cost', 'dp', 'gbs', 'gpu_cluster_str', 'index', 'is_oom', 'mbs', 'node_type', 'oom_gpumem', 'partition', 'pp', 'price_per_step', 'step_time', 'throughput', 'total_time_hours', 'tp']);
    // the same numbers as the CLI's JSONL, record for record
    const cliRecs = readFileSync(cli.jsonl, 'utf8').split('\n').map(parseJsonlLine).filter((l) => l && l['type'] === undefined);
    for (const [i, r] of results.entries()) {
      assert.equal(r.cost, cliRecs[i]!['cost']);
      assert.equal(r.throughput, cliRecs[i]!['throughput']);
      assert.equal(r.is_oom, cliRecs[i]!['is_oom']);
    }
    // a page that connects after the end gets the whole run replayed
    const replay = await readSse(new URL('/api/events', s.url).href);
    assert.equal(replay.events.filter((e) => e.event === 'result').length, cli.total);
    const st = await (await fetch(new URL('/api/search/status', s.url))).json();
    assert.equal(st.status, 'done');
    await waitFor(() => !s.runner!.workerAlive, 5000, 'the worker thread to exit after the search');
  });
});

test('web: one search at a time (409 with a clear message); Stop terminates the worker and the stream', { timeout: 60_000 }, async () => {
  await withServer({}, async (s) => {
    const big = { gpus: [{ type: 'A40', nodes: 32 }], pareto: true, paretoGbsMax: 512 };
    const started = await postJson(new URL('/api/search', s.url).href, JSON.stringify(big));
    assert.equal(started.status, 202);
    const total = started.json.total as number;
    assert.ok(total > 10_000);
    const stream = readSse(new URL('/api/events', s.url).href, { timeoutMs: 45_000 });
    await waitFor(() => (s.runner!.current?.done ?? 0) > 0, 20_000, 'first results');
    const second = await postJson(new URL('/api/search', s.url).href, JSON.stringify(SMALL));
    assert.equal(second.status, 409);
    assert.match(second.json.error, /a search is already running \(run 1: \d+ of \d+ plans estimated\)/);
    assert.match(second.json.hint, /Stop/);
    assert.equal(s.runner!.workerAlive, true);
    const stop = await postJson(new URL('/api/search/stop', s.url).href, '{}');
    assert.equal(stop.status, 200);
    assert.equal(stop.json.status, 'stopped');
    assert.equal(s.runner!.workerAlive, false, 'Stop terminates the worker thread');
    const { events, ended } = await stream;
    assert.ok(ended);
    assert.equal(events.at(-1)!.event, 'stopped');
    const received = events.filter((e) => e.event === 'result').length;
    assert.ok(received < total, `received ${received} of ${total}`);
    const doneAtStop = s.runner!.current!.done;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(s.runner!.current!.done, doneAtStop, 'no result arrives after Stop');
    const st = await (await fetch(new URL('/api/search/status', s.url))).json();
    assert.equal(st.status, 'stopped');
    assert.equal(st.running, false);
    assert.equal((await postJson(new URL('/api/search/stop', s.url).href, '{}')).json.status, 'not_running');
    // and a new search may start
    const again = await postJson(new URL('/api/search', s.url).href, JSON.stringify(SMALL));
    assert.equal(again.status, 202);
    assert.equal(again.json.run, 2);
    await waitFor(() => s.runner!.current?.status === 'done', 30_000, 'second search');
  });
});

test('web: --watch follows a JSONL file written by `fasop search --parsing` (and the original\'s), starting over when it is rewritten', { timeout: 60_000 }, async () => {
  const dir = tmp();
  const file = join(dir, 'live.jsonl');
  await withServer({ watch: file }, async (s) => {
    assert.equal(s.mode, 'watch');
    const refused = await postJson(new URL('/api/search', s.url).href, JSON.stringify(SMALL));
    assert.equal(refused.status, 409);
    assert.match(refused.json.error, /follows .*live\.jsonl \(--watch\)/);
    // 1. the original FASOP's JSONL, appended in two pieces (the second cut mid-line)
    const ref = readFileSync(join(REF_OUTPUTS, 's4_A40x4_gbs32_squad.jsonl'), 'utf8');
    const refCounts = countJsonl(ref);
    const cut = Math.floor(ref.length / 2);
    const stream = readSse(new URL('/api/events', s.url).href, { until: (evs) => evs.some((e) => e.event === 'complete'), timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(file, ref.slice(0, cut));
    await new Promise((r) => setTimeout(r, 400));
    appendFileSync(file, ref.slice(cut));
    const { events } = await stream;
    const results = events.filter((e) => e.event === 'result');
    assert.equal(results.length, refCounts.done);
    assert.equal(events.find((e) => e.event === 'total')!.data.total, 53);
    const complete = events.find((e) => e.event === 'complete')!.data;
    assert.deepEqual([complete.done, complete.valid, complete.oom], [refCounts.done, refCounts.valid, refCounts.oom]);
    // 2. a new `fasop search --parsing` run rewrites the file: the stream starts over with it
    const stream2 = readSse(new URL('/api/events', s.url).href, { until: (evs) => evs.filter((e) => e.event === 'start').length >= 2 && evs.at(-1)!.event === 'complete', timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await runCli([...SMALL_ARGS, '--profile-dir', REF_PROFILES, '--parsing', '--parsing-file', file, '--no-save-csv'], dir);
    assert.equal(r.code, 0, r.err);
    const cli = countJsonl(readFileSync(file, 'utf8'));
    const { events: ev2 } = await stream2;
    const lastStart = ev2.map((e) => e.event).lastIndexOf('start');
    const after = ev2.slice(lastStart);
    assert.equal(after.filter((e) => e.event === 'result').length, cli.done);
    const c2 = after.at(-1)!.data;
    assert.deepEqual([c2.done, c2.total, c2.valid, c2.oom, c2.frontier], [cli.done, cli.total, cli.valid, cli.oom, cli.frontier]);
  });
  // Python's NaN/Infinity and junk lines
  assert.deepEqual(parseJsonlLine('{"index": 1, "step_time": NaN, "cost": Infinity, "throughput": -Infinity}'), { index: 1, step_time: null, cost: null, throughput: null });
  assert.equal(parseJsonlLine('{"index": 1, "name": "NaN"'), undefined);
  assert.deepEqual(parseJsonlLine('{"name": "x NaN y"}'), { name: 'x NaN y' });
});

test('web: `fasop serve` flags are checked (exit 2, one line); the command starts and stops the server', { timeout: 30_000 }, async () => {
  for (const [args, re] of [
    [['serve', '--port', 'abc'], /--port must be a whole number from 0 to 65535, got 'abc' — fix: pass e.g. --port 8080/],
    [['serve', '--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['serve', '--host', '127.0.0.1;ls'], /--host must be an address/],
    [['serve', '--profile-dir', '/nonexistent/profiles'], /profile directory .* does not exist/],
    [['serve', '--watch', '/nonexistent/dir/x.jsonl'], /--watch: the folder of/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
  // in-process, from src/ (the worker boots through worker-boot.mjs + tsx)
  let out = '';
  let stopServer!: () => void;
  const until = new Promise<void>((r) => { stopServer = r; });
  let server: FasopServer | undefined;
  const io = { out: (t: string) => { out += `${t}\n`; }, err: (t: string) => { out += `${t}\n`; }, errIsTty: false, inIsTty: false, cwd: ROOT };
  const cmd = serveCommand(io, { until, onListening: (s) => { server = s; } });
  const done = new Command('fasop').exitOverride().addCommand(cmd).parseAsync(['serve', '--port', '0', '--profile-dir', REF_PROFILES], { from: 'user' });
  await waitFor(() => server !== undefined, 10_000, 'listening');
  assert.match(out, /fasop serve: http:\/\/127\.0\.0\.1:\d+\/ \(searches use profiles in /);
  const busy = await startServer({ port: server!.port }).then((s) => s.close().then(() => 'started'), (e: Error) => e.message);
  assert.match(busy, /port \d+ on 127\.0\.0\.1 is already in use/);
  const r = await postJson(new URL('/api/search', server!.url).href, JSON.stringify({ gpus: [{ type: 'A40', nodes: 8 }], gpuPerNode: 8, gbs: 64 }));
  assert.equal(r.status, 202);
  await waitFor(() => server!.runner!.current?.status === 'done', 20_000, 'search from src');
  assert.equal(server!.runner!.current!.done, r.json.total);
  stopServer();
  await done;
  assert.match(out, /fasop serve: stopped/);
});

/** dist/ is built by `npm ci` (prepare); rebuild it here if it is missing or older than the sources. */
function ensureDist(): void {
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) =>
    e.isDirectory() ? newest(join(dir, e.name)) : e.name.endsWith('.ts') ? statSync(join(dir, e.name)).mtimeMs : 0));
  const built = join(ROOT, 'dist', 'web', 'worker.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newest(join(ROOT, 'src'))) return;
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `npm run build failed: ${r.stdout}${r.stderr}`);
}

test('web: `node bin/fasop.js serve` (compiled dist/) runs a search in the compiled worker and stops on SIGTERM', { timeout: 150_000 }, async () => {
  ensureDist();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fasop.js'), 'serve', '--port', '0', '--profile-dir', REF_PROFILES], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(out), 20_000, `the URL (${out})`);
    const url = out.match(/http:\/\/127\.0\.0\.1:\d+\//)![0];
    assert.equal((await fetch(new URL('/static/echarts.min.js', url))).status, 200, 'static files are served from src/web/static in dist mode too');
    const cli = await cliCounts(SMALL_ARGS);
    const r = await postJson(new URL('/api/search', url).href, JSON.stringify(SMALL));
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const { events } = await readSse(new URL('/api/events', url).href, { timeoutMs: 40_000 });
    const last = events.at(-1)!;
    assert.equal(last.event, 'done', JSON.stringify(last.data));
    assert.deepEqual([last.data.done, last.data.valid, last.data.oom, last.data.frontier], [cli.done, cli.valid, cli.oom, cli.frontier]);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  assert.match(out, /fasop serve: stopped/);
});
