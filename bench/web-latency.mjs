// The viewer's API latency during a search (run on demand: `npm run build && node
// bench/web-latency.mjs`). `fasop serve` runs as its own process; a large page search runs in its
// worker while 50 event-stream clients that never read stay connected and one client reads
// everything. Every 20 ms the status and info calls are timed; the server's peak RSS is read from
// /proc. Prints one Markdown table row. BENCH_NODE_FLAGS (e.g. --trace-gc) are passed to the server,
// whose standard output goes to BENCH_SERVER_LOG when set. Argument: nodes per GPU type (default 8).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REF = new URL('../../shared/reference/profiles', import.meta.url).pathname;
const BIN = new URL('../bin/fasop.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fasop-bench-web-'));
for (const tp of [1, 2, 4, 8]) {
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A100_${tp}.npz`));
}
const nodes = Number(process.argv[2] ?? 8);
const body = JSON.stringify({ gpus: [{ type: 'A40', nodes }, { type: 'A100', nodes }], pareto: true, estimator: 'reference' });
const server = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []), BIN, 'serve', '--port', '0', '--profile-dir', dir], { stdio: ['ignore', 'pipe', process.env.BENCH_NODE_FLAGS ? 'pipe' : 'inherit'] });
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
const idleRss = rssKiB();
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
const t0 = performance.now();
for (;;) {
  for (const p of ['/api/search/status', '/api/info']) {
    const t = performance.now();
    const j = await (await fetch(url(p))).json();
    lat.push(performance.now() - t);
    if (p === '/api/search/status' && !j.running && j.status !== 'idle') {
      const searchS = (performance.now() - t0) / 1000;
      const peak = rssKiB();
      // the same calls after the search, for the machine's own noise
      const after = [];
      for (const t1 = performance.now(); performance.now() - t1 < 3000;) {
        const t = performance.now();
        await (await fetch(url('/api/search/status'))).json();
        after.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
      const stats = (xs) => {
        xs.sort((a, b) => a - b);
        const q = (x) => xs[Math.min(xs.length - 1, Math.floor(x * xs.length))].toFixed(1);
        return `${q(0.5)} / ${q(0.99)} / ${xs.at(-1).toFixed(1)}`;
      };
      console.log('| plans | search (s) | API calls | latency during the search p50 / p99 / max (ms) | after it p50 / p99 / max (ms) | server peak RSS, idle → end (MiB) | stream bytes read |');
      console.log('|---|---|---|---|---|---|---|');
      console.log(`| ${started.total} | ${searchS.toFixed(1)} | ${lat.length} | ${stats(lat)} | ${stats(after)} | ${(idleRss / 1024).toFixed(0)} → ${(peak / 1024).toFixed(0)} | ${readBytes} |`);
      for (const x of stuck) x.destroy();
      server.kill('SIGTERM');
      process.exit(0);
    }
  }
  await new Promise((r) => setTimeout(r, 20));
}
