// The viewer's API latency during a search (run on demand):
//   npm run build && node bench/web-latency.mjs [--nodes N] [--runs R] [--before REF]
// `fasop serve` runs as its own process; a large page search (A40×N + A100×N --pareto, default N 8)
// runs in its worker while 50 event-stream clients that never read stay connected and one client
// reads everything. Every 20 ms the status and info calls are timed, over one kept-alive
// connection (the measuring client is warmed up first, so its own start-up is not counted); the
// server's peak RSS is read from /proc. Prints one Markdown table row per run, with the server's
// main thread's CPU time and run-queue time (schedstat) during the search, and the longest stall
// of the server's event loop (a probe loaded into the server) and of this client's, each split
// into time on a CPU and time waiting for one: a slow call while the server's loop was idle or
// waiting for a CPU is the machine's scheduling, not the server's work. With --before REF, that
// commit is exported with `git archive`, built with this checkout's node_modules, and its runs
// alternate with this checkout's, so both see the same machine load. BENCH_NODE_FLAGS (e.g.
// --trace-gc) are passed to the server, whose standard output goes to BENCH_SERVER_LOG when set.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { Agent, get, request } from 'node:http';
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

// Loaded into the server (--import): every 5 ms its main thread checks how late the timer fired;
// each late stretch is kept with how much of it the thread spent on a CPU and how much runnable
// but waiting for one (Linux schedstat), so the server's own work and the machine's scheduling
// can be told apart. The reads cost the server about 20 µs per 5 ms, for both builds alike.
/** Every 5 ms, how late the timer fired; stretches over 15 ms go to `late` as [start, wall, on a CPU, waiting] (ms). */
function watchStalls(late, readFile) {
  const ss = () => readFile(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
  let last = performance.now();
  let s0 = ss();
  setInterval(() => {
    const now = performance.now();
    const s = ss();
    if (now - last > 15) late.push([performance.timeOrigin + last, now - last, (s[0] - s0[0]) / 1e6, (s[1] - s0[1]) / 1e6]);
    last = now;
    s0 = s;
  }, 5).unref();
}

const PROBE = `data:text/javascript,${encodeURIComponent(`
import { isMainThread } from 'node:worker_threads';
import { readFileSync, writeFileSync } from 'node:fs';
${watchStalls.toString()}
if (isMainThread && process.env.BENCH_PROBE_FILE) {
  const late = [];
  watchStalls(late, readFileSync);
  process.on('exit', () => writeFileSync(process.env.BENCH_PROBE_FILE, JSON.stringify(late)));
}`)}`;

/** This process's main thread: late timer stretches over 15 ms, as the server's probe keeps them. */
const clientLate = [];
watchStalls(clientLate, readFileSync);
/** The longest late stretch overlapping [e0, e1] as `wall (on a CPU + waiting)`, and the most CPU work in one. */
const longestStall = (late, e0, e1) => {
  const rows = late.filter(([at, wall]) => at + wall > e0 && at < e1);
  const longest = rows.reduce((a, r) => (r[1] > a[1] ? r : a), [0, 0, 0, 0]);
  return { text: `${longest[1].toFixed(0)} (${longest[2].toFixed(0)} + ${longest[3].toFixed(0)})`, busiest: rows.reduce((a, r) => Math.max(a, r[2]), 0) };
};

/** GET a JSON API path over one kept-alive connection (node:http: less client CPU per call than fetch). */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const getJson = (u) => new Promise((resolve, reject) => {
  get(u, { agent }, (res) => {
    let d = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { d += c; });
    res.on('end', () => resolve(JSON.parse(d)));
  }).on('error', reject);
});

async function once(root) {
  const flags = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
  const probeFile = join(dir, `probe-${Date.now()}.json`);
  const server = spawn(process.execPath, [...flags, '--import', PROBE, join(root, 'bin/fasop.js'), 'serve', '--port', '0', '--profile-dir', dir], { stdio: ['ignore', 'pipe', flags.length ? 'pipe' : 'inherit'], env: { ...process.env, BENCH_PROBE_FILE: probeFile } });
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
  // the measuring client's own first calls (its code compiles, its connection opens) are not the server's latency
  for (let i = 0; i < 10; i++) for (const p of ['/api/search/status', '/api/info']) await getJson(url(p));
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
  const e0 = performance.timeOrigin + t0;
  for (let running = true; running;) {
    for (const p of ['/api/search/status', '/api/info']) {
      const t = performance.now();
      const j = await getJson(url(p));
      lat.push(performance.now() - t);
      if (p === '/api/search/status' && !j.running && j.status !== 'idle') running = false;
    }
    if (running) await sleep(20);
  }
  const searchS = (performance.now() - t0) / 1000;
  const e1 = performance.timeOrigin + performance.now();
  const s1 = sched();
  const peak = rssKiB();
  // the same calls after the search, for the machine's own noise
  const after = [];
  for (const t1 = performance.now(); performance.now() - t1 < 3000;) {
    const t = performance.now();
    await getJson(url('/api/search/status'));
    after.push(performance.now() - t);
    await sleep(20);
  }
  for (const x of stuck) x.destroy();
  agent.destroy();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  const slow = lat.filter((x) => x > SLOW_MS).length;
  // the server loop's longest late stretch during the search and the most CPU work in any one; the client's
  const serverStall = longestStall(JSON.parse(readFileSync(probeFile, 'utf8')), e0, e1);
  const stall = `${serverStall.text} / ${serverStall.busiest.toFixed(0)} | ${longestStall(clientLate, e0, e1).text}`;
  const threadMs = `${((s1[0] - s0[0]) / 1e6).toFixed(0)} / ${((s1[1] - s0[1]) / 1e6).toFixed(0)}`;
  return `| ${started.total} | ${load.toFixed(1)} | ${searchS.toFixed(1)} | ${lat.length} | ${stats(lat)} | ${slow} | ${threadMs} | ${stall} | ${stats(after)} | ${(idleRss / 1024).toFixed(0)} → ${(peak / 1024).toFixed(0)} | ${readBytes} |`;
}

let beforeRoot;
if (beforeRef) {
  beforeRoot = mkdtempSync(join(tmpdir(), 'fasop-before-'));
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${beforeRef}" | tar -x -C "${beforeRoot}"`]);
  symlinkSync(join(ROOT, 'node_modules'), join(beforeRoot, 'node_modules'));
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(beforeRoot, 'tsconfig.json')], { stdio: 'inherit' });
}
console.log(`machine: ${cpus()[0]?.model ?? '?'} (${cpus().length} cores), node ${process.version}, ${new Date().toISOString()}${beforeRef ? `; before = ${beforeRef}` : ''}`);
console.log(`| build | plans | load avg (1 min) | search (s) | API calls | latency during the search p50 / p99 / max (ms) | calls over ${SLOW_MS} ms | server thread during the search: on a CPU / waiting for one (ms) | server loop's longest stall during the search (on a CPU + waiting) / most CPU work in one stall (ms) | measuring client's longest stall (on a CPU + waiting) (ms) | after it p50 / p99 / max (ms) | server peak RSS, idle → end (MiB) | stream bytes read |`);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (let r = 0; r < runs; r++) {
  if (beforeRoot) console.log(`| before | ${(await once(beforeRoot)).slice(2)}`);
  console.log(`| ${beforeRoot ? 'after' : 'this'} | ${(await once(ROOT)).slice(2)}`);
}
