// The viewer's API latency during a search (run on demand):
//   npm run build && node bench/web-latency.mjs [--nodes N] [--runs R] [--before REF]
// `fasop serve` runs as its own process; a large page search (A40×N + A100×N --pareto, default N 8)
// runs in its worker while 50 event-stream clients that never read stay connected and one client
// reads everything. Every 20 ms the status and info calls are timed (the measuring client is warmed
// up first, so its own start-up is not counted); the server's peak RSS is read from /proc. Prints
// one Markdown table row per run. With --before REF, that commit is exported with `git archive`,
// built with this checkout's node_modules, and its runs alternate with this checkout's, so both
// see the same machine load. BENCH_NODE_FLAGS (e.g. --trace-gc) are passed to the server, whose
// standard output goes to BENCH_SERVER_LOG when set.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const REF = new URL('../../shared/reference/profiles', import.meta.url).pathname;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const nodes = Number(arg('--nodes', 8));
const runs = Number(arg('--runs', 1));
const beforeRef = arg('--before', undefined);
const SLOW_MS = 100;

const dir = mkdtempSync(join(tmpdir(), 'fasop-bench-web-'));
for (const tp of [1, 2, 4, 8]) {
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A100_${tp}.npz`));
}
const body = JSON.stringify({ gpus: [{ type: 'A40', nodes }, { type: 'A100', nodes }], pareto: true, estimator: 'reference' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** p50 / p99 / max of a list of times in ms */
const stats = (xs) => {
  xs = [...xs].sort((a, b) => a - b);
  const q = (x) => xs[Math.min(xs.length - 1, Math.floor(x * xs.length))].toFixed(1);
  return `${q(0.5)} / ${q(0.99)} / ${xs.at(-1).toFixed(1)}`;
};

async function once(root) {
  const flags = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
  const server = spawn(process.execPath, [...flags, join(root, 'bin/fasop.js'), 'serve', '--port', '0', '--profile-dir', dir], { stdio: ['ignore', 'pipe', flags.length ? 'pipe' : 'inherit'] });
  const base = await new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (c) => {
      if (process.env.BENCH_SERVER_LOG) appendFileSync(process.env.BENCH_SERVER_LOG, c);
      out += c;
      const m = /(http:\/\/[^\s]+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  const url = (p) => new URL(p, base);
  const port = Number(new URL(base).port);
  const rssKiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0);
  // the server's main thread: ns on a CPU and ns runnable but waiting for one (Linux schedstat)
  const sched = () => readFileSync(`/proc/${server.pid}/task/${server.pid}/schedstat`, 'utf8').split(' ').map(Number);
  // the measuring client's own first calls (fetch loads lazily) are not the server's latency
  for (let i = 0; i < 10; i++) for (const p of ['/api/search/status', '/api/info']) await (await fetch(url(p))).json();
  const idleRss = rssKiB();
  const load = loadavg()[0];
  const started = await new Promise((resolve, reject) => {
    const req = request(url('/api/search'), { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve(JSON.parse(d)));
    });
    req.on('error', reject);
    req.end(body);
  });
  const stuck = [];
  for (let i = 0; i < 50; i++) {
    const sock = connect(port, '127.0.0.1', () => { sock.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`); sock.pause(); });
    sock.on('error', () => {});
    stuck.push(sock);
  }
  let readBytes = 0;
  get(url('/api/events'), (res) => res.on('data', (c) => { readBytes += c.length; }));
  const lat = [];
  const s0 = sched();
  const t0 = performance.now();
  for (let running = true; running;) {
    for (const p of ['/api/search/status', '/api/info']) {
      const t = performance.now();
      const j = await (await fetch(url(p))).json();
      lat.push(performance.now() - t);
      if (p === '/api/search/status' && !j.running && j.status !== 'idle') running = false;
    }
    if (running) await sleep(20);
  }
  const searchS = (performance.now() - t0) / 1000;
  const s1 = sched();
  const peak = rssKiB();
  // the same calls after the search, for the machine's own noise
  const after = [];
  for (const t1 = performance.now(); performance.now() - t1 < 3000;) {
    const t = performance.now();
    await (await fetch(url('/api/search/status'))).json();
    after.push(performance.now() - t);
    await sleep(20);
  }
  for (const x of stuck) x.destroy();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  const slow = lat.filter((x) => x > SLOW_MS).length;
  const threadMs = `${((s1[0] - s0[0]) / 1e6).toFixed(0)} / ${((s1[1] - s0[1]) / 1e6).toFixed(0)}`;
  return `| ${started.total} | ${load.toFixed(1)} | ${searchS.toFixed(1)} | ${lat.length} | ${stats(lat)} | ${slow} | ${threadMs} | ${stats(after)} | ${(idleRss / 1024).toFixed(0)} → ${(peak / 1024).toFixed(0)} | ${readBytes} |`;
}

let beforeRoot;
if (beforeRef) {
  beforeRoot = mkdtempSync(join(tmpdir(), 'fasop-before-'));
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${beforeRef}" | tar -x -C "${beforeRoot}"`]);
  symlinkSync(join(ROOT, 'node_modules'), join(beforeRoot, 'node_modules'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(beforeRoot, 'tsconfig.json')], { stdio: 'inherit' });
}
console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), node ${process.version}, ${new Date().toISOString()}${beforeRef ? `; before = ${beforeRef}` : ''}`);
console.log(`| build | plans | load avg (1 min) | search (s) | API calls | latency during the search p50 / p99 / max (ms) | calls over ${SLOW_MS} ms | server thread during the search: on a CPU / waiting for one (ms) | after it p50 / p99 / max (ms) | server peak RSS, idle → end (MiB) | stream bytes read |`);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (let r = 0; r < runs; r++) {
  if (beforeRoot) console.log(`| before | ${(await once(beforeRoot)).slice(2)}`);
  console.log(`| ${beforeRoot ? 'after' : 'this'} | ${(await once(ROOT)).slice(2)}`);
}
