// The viewer's API latency and memory during a search (run on demand: `npm run build && node
// bench/web-latency.mjs`). The server runs in this process; a large page search runs in its worker
// while 50 event-stream clients that never read stay connected and one client reads everything.
// Every 20 ms the status and info calls are timed. Prints one Markdown table row.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../dist/web/server.js';

const REF = new URL('../../shared/reference/profiles', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fasop-bench-web-'));
for (const tp of [1, 2, 4, 8]) {
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
  symlinkSync(join(REF, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A100_${tp}.npz`));
}
const body = JSON.stringify({ gpus: [{ type: 'A40', nodes: 8 }, { type: 'A100', nodes: 8 }], pareto: true, estimator: 'reference' });
const s = await startServer({ port: 0, profileDir: dir });
const url = (p) => new URL(p, s.url);
const rss0 = process.memoryUsage().rss;
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
  const sock = connect(s.port, '127.0.0.1', () => { sock.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`); sock.pause(); });
  sock.on('error', () => {});
  stuck.push(sock);
}
let readBytes = 0;
get(url('/api/events'), (res) => res.on('data', (c) => { readBytes += c.length; }));
const lat = [];
let maxRss = 0;
const t0 = performance.now();
for (;;) {
  for (const p of ['/api/search/status', '/api/info']) {
    const t = performance.now();
    const r = await fetch(url(p));
    const j = await r.json();
    lat.push(performance.now() - t);
    if (p === '/api/search/status' && !j.running && j.status !== 'idle') {
      lat.sort((a, b) => a - b);
      const q = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))].toFixed(1);
      console.log('| plans | search (s) | API calls | latency p50 / p99 / max (ms) | server RSS growth, max (MiB) | stream bytes read |');
      console.log('|---|---|---|---|---|---|');
      console.log(`| ${started.total} | ${((performance.now() - t0) / 1000).toFixed(1)} | ${lat.length} | ${q(0.5)} / ${q(0.99)} / ${lat.at(-1).toFixed(1)} | ${((maxRss - rss0) / 2 ** 20).toFixed(0)} | ${readBytes} |`);
      for (const x of stuck) x.destroy();
      await s.close();
      process.exit(0);
    }
  }
  maxRss = Math.max(maxRss, process.memoryUsage().rss);
  await new Promise((r) => setTimeout(r, 20));
}
