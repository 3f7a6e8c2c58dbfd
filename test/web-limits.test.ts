/**
 * The viewer's bounds (docs/errors.md, Limits): the SSE log is shared and read through one cursor
 * per client, so clients that do not read hold a bounded queue and are dropped; the replay log is
 * capped; the frontier count is kept incrementally and equals the chart's; a page that reconnects
 * after the end gets the whole run; page searches are capped in plans; the API refuses inherited
 * names with 400; --watch survives folders, FIFOs and endless lines.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, get, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FANOUT_BYTES_PER_TURN, frontierCount, Run } from '../src/web/channel.js';
import { MAX_WEB_PLANS } from '../src/web/search-runner.js';
import { MAX_SSE_CLIENTS, startServer, type FasopServer } from '../src/web/server.js';
import { JsonlFollower, MAX_JSONL_LINE_BYTES } from '../src/web/watch.js';
import type { WirePlan } from '../src/web/wire.js';
import { REF_PROFILES, tmp } from './helpers/cli.js';

const plan = (i: number, cost: number, throughput: number, isOom = false): WirePlan => ({
  index: i, gbs: 32, mbs: 1, tp: 1, dp: 1, pp: 8, node_type: ['A40', 'A40'], gpu_cluster_str: 'A40:2', partition: [82, 80, 82, 80],
  step_time: 1, throughput, price_per_step: 1, is_oom: isOom, oom_gpumem: 1, total_time_hours: 1, cost,
});
const batch = (from: number, n: number) => Array.from({ length: n }, (_, k) => plan(from + k, 1 + ((from + k) % 97), 1 + ((from + k) % 89)));

/** An HTTP server whose every request follows `run`; the server-side responses are kept. */
async function sseServer(run: Run): Promise<{ port: number; responses: ServerResponse[]; close: () => Promise<void> }> {
  const responses: ServerResponse[] = [];
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    responses.push(res);
    run.attach(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    responses,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

/** A client that sends its request and then never reads (its receive window fills up). */
function stuckClient(port: number, path = '/e'): Promise<Socket> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' }, () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      sock.pause();
      resolve(sock);
    });
    sock.on('error', () => undefined);
  });
}

/** Read an SSE stream to its end (or the timeout); the event names and data. */
function readAll(url: string, timeoutMs = 20_000): Promise<{ events: { event: string; data: any }[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    let buf = '';
    const req = get(url, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
        }
      });
      res.on('end', () => { clearTimeout(t); resolve({ events, ended: true }); });
    });
    req.on('error', reject);
    const t = setTimeout(() => { req.destroy(); resolve({ events, ended: false }); }, timeoutMs);
  });
}

function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('web limits: 200 clients that do not read hold a bounded queue each and are dropped; a reading client gets everything', { timeout: 60_000 }, async () => {
  const run = new Run(1, 'search', {}, { slowClientMs: 1500 });
  const srv = await sseServer(run);
  try {
    const stuck = await Promise.all(Array.from({ length: 200 }, () => stuckClient(srv.port)));
    const reader = readAll(`http://127.0.0.1:${srv.port}/e`);
    for (let t = 0; srv.responses.length < 201 && t < 400; t++) await sleep(25);
    assert.equal(srv.responses.length, 201, 'every client is attached');
    // about 40 MB of results in batches of 500, as the worker sends them
    let n = 0;
    const largestBatch = Buffer.byteLength(batch(0, 500).map((p) => `id: 1.1\nevent: result\ndata: ${JSON.stringify(p)}\n\n`).join(''));
    let maxQueued = 0;
    for (let b = 0; b < 200; b++) {
      run.addResults(batch(n, 500));
      n += 500;
      for (const res of srv.responses) maxQueued = Math.max(maxQueued, res.writableLength);
      await new Promise((r) => setImmediate(r));
      if (b % 20 === 0) await sleep(20);
    }
    // writing goes on in later turns, a bounded amount per turn: wait until every stuck client is
    // full (or already dropped, on a slow machine, 1.5 s after it filled up)
    const full = () => srv.responses.filter((r) => r.writableLength > 0 || r.destroyed).length;
    for (let t = 0; full() < 200 && t < 1200; t++) {
      for (const res of srv.responses) maxQueued = Math.max(maxQueued, res.writableLength);
      await sleep(25);
    }
    assert.ok(full() >= 200, `every stuck client has data waiting or was dropped (${full()})`);
    // a client's queue never holds more than the high-water mark plus one batch
    assert.ok(maxQueued <= 256 * 1024 + largestBatch, `largest queue ${maxQueued} bytes`);
    await sleep(2000);
    run.addResults(batch(n, 1)); // a later event: clients stuck past slowClientMs are dropped
    n += 1;
    assert.ok(run.clientCount() <= 1, `stuck clients dropped, ${run.clientCount()} left`);
    run.finish('done');
    const got = await reader;
    assert.ok(got.ended);
    assert.equal(got.events.filter((e) => e.event === 'result').length, n);
    assert.equal(got.events.at(-1)!.event, 'done');
    for (const s of stuck) s.destroy();
  } finally {
    await srv.close();
  }
});

test('web limits: writing to the clients is spread over event-loop turns, at most FANOUT_BYTES_PER_TURN plus one batch each', { timeout: 60_000 }, async () => {
  const run = new Run(1, 'search', {});
  const srv = await sseServer(run);
  try {
    const readers = Array.from({ length: 20 }, () => readAll(`http://127.0.0.1:${srv.port}/e`, 50_000));
    for (let t = 0; srv.responses.length < 20 && t < 400; t++) await sleep(25);
    let written = 0;
    for (const res of srv.responses) {
      const write = res.write.bind(res) as (chunk: Buffer) => boolean;
      (res as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => {
        written += chunk.length;
        return write(chunk);
      };
    }
    // about 10 MB of results at once (a --watch file read in one go), for 20 pages: 200 MB to write
    let n = 0;
    for (let b = 0; b < 40; b++) {
      run.addResults(batch(n, 500));
      n += 500;
    }
    run.finish('done');
    assert.equal(written, 0, 'nothing is written while the results are added');
    const largestBatch = Buffer.byteLength(batch(0, 500).map((p) => `id: 1.99999\nevent: result\ndata: ${JSON.stringify(p)}\n\n`).join(''));
    let turns = 0;
    let maxTurn = 0;
    for (let last = 0; run.clientCount() > 0 && turns < 100_000; turns++) {
      await new Promise((r) => setImmediate(r));
      maxTurn = Math.max(maxTurn, written - last);
      last = written;
    }
    assert.ok(maxTurn <= FANOUT_BYTES_PER_TURN + largestBatch, `at most ${FANOUT_BYTES_PER_TURN} bytes plus one batch per turn, got ${maxTurn}`);
    assert.ok(turns > 100, `the writing took ${turns} turns`);
    for (const got of await Promise.all(readers)) {
      assert.ok(got.ended);
      assert.equal(got.events.filter((e) => e.event === 'result').length, n);
      assert.deepEqual(got.events.filter((e) => e.event === 'result').map((e) => e.data.index), Array.from({ length: n }, (_, i) => i), 'every result, in order');
    }
  } finally {
    await srv.close();
  }
});

test('web limits: the replay log is capped; late pages get a warning, caught-up pages every result', { timeout: 60_000 }, async () => {
  const run = new Run(1, 'watch', {}, { logCapBytes: 1024 * 1024 });
  const srv = await sseServer(run);
  try {
    const early = readAll(`http://127.0.0.1:${srv.port}/e`, 8000);
    for (let t = 0; srv.responses.length < 1 && t < 400; t++) await sleep(25);
    for (let b = 0; b < 40; b++) {
      run.addResults(batch(b * 100, 100));
      await sleep(5);
    }
    assert.ok(run.logBytes() <= 1024 * 1024 + 4096, `log ${run.logBytes()} bytes`);
    const late = await readAll(`http://127.0.0.1:${srv.port}/e`, 1500);
    const lateResults = late.events.filter((e) => e.event === 'result').length;
    assert.ok(lateResults > 0 && lateResults < 4000, `a late page gets the kept part: ${lateResults}`);
    assert.ok(late.events.some((e) => e.event === 'warning' && /later results are sent live but not kept/.test(e.data.message)));
    run.closeClients();
    const first = await early;
    assert.equal(first.events.filter((e) => e.event === 'result').length, 4000, 'a page that keeps up gets every result');
    assert.equal(run.progress().done, 4000);
  } finally {
    await srv.close();
  }
});

test('web limits: the incremental frontier count equals the chart\'s frontier over all points (random batches)', () => {
  const point = fc.record({
    cost: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(NaN)),
    throughput: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(NaN)),
    is_oom: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(fc.array(point, { maxLength: 30 }), { maxLength: 20 }), (batches) => {
    const run = new Run(1, 'search', {});
    const all: { cost: number; throughput: number; is_oom: boolean }[] = [];
    let i = 0;
    for (const b of batches) {
      run.addResults(b.map((p) => plan(++i, p.cost, p.throughput, p.is_oom)));
      all.push(...b);
      assert.equal(run.progress().frontier, frontierCount(all));
    }
  }), { numRuns: 300 });
});

async function withServer(opts: Parameters<typeof startServer>[0], fn: (s: FasopServer) => Promise<void>): Promise<void> {
  const s = await startServer({ port: 0, profileDir: REF_PROFILES, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

test('web limits: a page that reconnects after the run gets the whole run, twice; status answers during a search', { timeout: 90_000 }, async () => {
  await withServer({}, async (s) => {
    const started = await postJson(new URL('/api/search', s.url).href, { gpus: [{ type: 'A40', nodes: 16 }], gbs: 64, pareto: true });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    // the status call answers while the worker runs (the search is off the server's thread)
    const seen: number[] = [];
    while (seen.length < 5) {
      const st = await (await fetch(new URL('/api/search/status', s.url))).json();
      seen.push(st.done);
      if (!st.running) break;
      await sleep(20);
    }
    const first = await readAll(new URL('/api/events', s.url).href, 60_000);
    assert.ok(first.ended);
    assert.equal(first.events.at(-1)!.event, 'done');
    for (let k = 0; k < 2; k++) {
      const again = await readAll(new URL('/api/events', s.url).href);
      assert.ok(again.ended, 'the replay ends after the final event');
      assert.deepEqual(again.events.map((e) => e.event), first.events.map((e) => e.event));
      assert.equal(again.events.filter((e) => e.event === 'result').length, started.json.total);
    }
  });
});

test('web limits: a page search above MAX_WEB_PLANS is refused before it starts (400, one message)', { timeout: 60_000 }, async () => {
  const dir = tmp('fasop-web-prof-');
  for (const tp of [1, 2, 4, 8]) {
    symlinkSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A40_${tp}.npz`));
    symlinkSync(join(REF_PROFILES, `llama70b_A40_${tp}.npz`), join(dir, `llama70b_A100_${tp}.npz`));
  }
  await withServer({ profileDir: dir }, async (s) => {
    const r = await postJson(new URL('/api/search', s.url).href, { gpus: [{ type: 'A40', nodes: 16 }, { type: 'A100', nodes: 16 }], pareto: true });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.match(r.json.error, new RegExp(`this search has \\d+ plans; the viewer runs at most ${MAX_WEB_PLANS}`));
    assert.match(r.json.hint, /fasop serve --watch/);
    const st = await (await fetch(new URL('/api/search/status', s.url))).json();
    assert.equal(st.status, 'idle');
  });
});

test('web limits: a request body that does not arrive in time gets 408 and its connection closes', { timeout: 30_000 }, async () => {
  await withServer({ bodyTimeoutMs: 500 }, async (s) => {
    const t0 = Date.now();
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect({ port: s.port, host: '127.0.0.1' }, () => {
        // headers and the start of a body that never ends
        sock.write(`POST /api/search HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"gpus": [`);
      });
      let data = '';
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => { data += c; });
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
      sock.setTimeout(10_000, () => { sock.destroy(); reject(new Error('the server kept the connection open')); });
    });
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.match(reply, /the request body did not arrive within 0\.5 s/);
    assert.ok(Date.now() - t0 < 5000, 'answered after the body timeout, not later');
    const st = await (await fetch(new URL('/api/search/status', s.url))).json();
    assert.equal(st.status, 'idle', 'no search started');
  });
});

test('web limits: names that are Object properties get 400 from the API, never 500', { timeout: 60_000 }, async () => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];
  await withServer({}, async (s) => {
    for (const n of names) {
      for (const body of [{ gpus: [{ type: n, nodes: 1 }] }, { gpus: [{ type: 'A40', nodes: 2 }], dataset: n }, { gpus: [{ type: 'A40', nodes: 2 }], model: n }]) {
        const r = await postJson(new URL('/api/search', s.url).href, body);
        assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.json)}`);
        assert.match(r.json.error, /unknown (GPU type|dataset|model)|invalid search request/);
      }
    }
  });
});

test('web limits: --watch on a folder or a FIFO warns and keeps serving; a line over the cap is skipped, memory stays bounded', { timeout: 60_000 }, async () => {
  const dir = tmp('fasop-watch-');
  const folder = join(dir, 'a-folder.jsonl');
  mkdirSync(folder);
  const fifo = join(dir, 'pipe.jsonl');
  execFileSync('mkfifo', [fifo]);
  for (const path of [folder, fifo]) {
    const f = new JsonlFollower(path);
    f.poll();
    f.poll();
    const warnings = (f.current as unknown as { log: Buffer[] }).log.map(String).filter((t) => t.includes('event: warning'));
    assert.equal(warnings.length, 1, 'one warning, not one per poll');
    assert.match(warnings[0]!, /is not a regular file/);
    f.close();
  }
  const file = join(dir, 'run.jsonl');
  writeFileSync(file, '');
  const f = new JsonlFollower(file);
  const rec = JSON.stringify({ index: 1, gbs: 32, mbs: 1, tp: 1, dp: 1, pp: 8, throughput: 1, cost: 1, is_oom: false });
  appendFileSync(file, `${rec}\n`);
  f.poll();
  // a line that never ends, appended in pieces larger than the cap
  const piece = 'x'.repeat(4 * 1024 * 1024);
  for (let k = 0; k < 6; k++) {
    appendFileSync(file, piece);
    f.poll();
    assert.ok((f as unknown as { pending: Buffer }).pending.length <= MAX_JSONL_LINE_BYTES, 'the unfinished line is not kept past the cap');
  }
  appendFileSync(file, `\n${rec}\n`);
  f.poll();
  assert.equal(f.current.done, 2, 'the records around the long line are read');
  const log = (f.current as unknown as { log: Buffer[] }).log.join('');
  assert.match(log, /skipping a line longer than/);
  f.close();
});

test('web limits: at most MAX_SSE_CLIENTS pages follow at once; the next one gets a busy event and its stream ends', { timeout: 60_000 }, async () => {
  const dir = tmp('fasop-watch-cap-');
  const file = join(dir, 'run.jsonl');
  writeFileSync(file, '');
  await withServer({ watch: file }, async (s) => {
    const socks = await Promise.all(Array.from({ length: MAX_SSE_CLIENTS }, () => stuckClient(s.port, '/api/events')));
    for (let t = 0; s.follower!.current.clientCount() < MAX_SSE_CLIENTS && t < 400; t++) await sleep(25);
    assert.equal(s.follower!.current.clientCount(), MAX_SSE_CLIENTS);
    const extra = await readAll(new URL('/api/events', s.url).href, 5000);
    assert.ok(extra.ended, 'the extra stream is ended by the server');
    assert.deepEqual(extra.events.map((e) => e.event), ['busy']);
    assert.match(extra.events[0]!.data.error, new RegExp(`more than ${MAX_SSE_CLIENTS} pages`));
    for (const x of socks) x.destroy();
  });
});
