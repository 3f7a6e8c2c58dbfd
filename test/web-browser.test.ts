/**
 * The viewer in a real browser: Debian's chromium driven by playwright-core (never
 * `npx playwright install`; scripts/setup.sh installs chromium with apt). Fill the form, start a
 * small search, wait for it, compare the page's counters and chart with the CLI's numbers for the
 * same search, check Stop on a large one, that no request left 127.0.0.1 and that the console stayed
 * clean, and take a screenshot. Everything has an explicit timeout: chromium hung in 1 of 8 trials.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { frontierCount } from '../src/web/channel.js';
import { startServer, type FasopServer } from '../src/web/server.js';
import { parseJsonlLine } from '../src/web/watch.js';
import { REF_PROFILES, runCli, tmp } from './helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The CLI's numbers: `fasop search ... --parsing` in-process, counted from its JSONL. */
async function cliCounts(args: string[]) {
  const dir = tmp();
  const jsonl = join(dir, 'run.jsonl');
  const r = await runCli([...args, '--profile-dir', REF_PROFILES, '--parsing', '--parsing-file', jsonl, '--no-save-csv'], dir);
  assert.equal(r.code, 0, r.err);
  const lines = readFileSync(jsonl, 'utf8').split('\n').map(parseJsonlLine).filter((x) => x !== undefined);
  const total = lines.find((l) => l['type'] === 'pareto_meta')!['pareto_total_count'] as number;
  const recs = lines.filter((l) => l['type'] === undefined) as unknown as { cost: number; throughput: number; is_oom: boolean }[];
  const valid = recs.filter((x) => !x.is_oom);
  return { jsonl, total, done: recs.length, valid: valid.length, oom: recs.length - valid.length, frontier: frontierCount(recs), bestThroughput: Math.max(...valid.map((x) => x.throughput)) };
}

/** Kill the chromium processes of one profile folder (by pid), if closing it hangs. */
function killChromium(userDataDir: string): void {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(userDataDir)) process.kill(Number(pid), 'SIGKILL');
    } catch { /* gone */ }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); })]).finally(() => clearTimeout(timer));
}

/** The counters as the page shows them (a string: tsx would add helpers the page does not have). */
const counters = (page: Page) => page.evaluate(`(() => {
  const n = (id) => Number(document.getElementById(id).textContent);
  return { done: n('count-done'), total: n('count-total'), valid: n('count-valid'), oom: n('count-oom'), frontier: n('count-frontier') };
})()`) as Promise<{ done: number; total: number; valid: number; oom: number; frontier: number }>;

test('web (browser): chromium runs a search from the form; counters and chart equal the CLI\'s; Stop stops; --watch follows a file; nothing leaves 127.0.0.1', { timeout: 90_000, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/setup.sh installs it with apt)` }, async () => {
  const cli = await cliCounts(['--gpus', 'A40', '8', '--gbs', '32', '--pareto']);
  assert.ok(cli.valid > 0 && cli.frontier > 1);
  const server: FasopServer = await startServer({ port: 0, profileDir: REF_PROFILES });
  const origin = `http://127.0.0.1:${server.port}`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'fasop-chromium-'));
  const requests: string[] = [];
  const allowed = [`${origin}/`];
  const consoleErrors: { text: string; url: string }[] = [];
  const pageErrors: string[] = [];
  let ctx: BrowserContext | undefined;
  let watcher: FasopServer | undefined;
  try {
    ctx = await withTimeout(chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000, viewport: { width: 1440, height: 1000 },
    }), 35_000, 'chromium launch');
    ctx.setDefaultTimeout(15_000);
    ctx.setDefaultNavigationTimeout(15_000);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location().url }); });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as any).fasopViewer?.info && (window as any).echarts);
    await page.waitForSelector('#conn-text:has-text("connected")');

    // Defaults from the catalog: node size of the GPU type, the model's sequence length, the dataset's budget.
    await page.selectOption('.gpu-type', 'A40');
    assert.equal(await page.getAttribute('#gpn', 'placeholder'), '4 (catalog)');
    await page.selectOption('.gpu-type', 'H100');
    assert.equal(await page.getAttribute('#gpn', 'placeholder'), '8 (catalog)');
    assert.equal(await page.inputValue('#seq-length'), '1024');
    // a catalog model at another sequence length (the CLI's --seq-length); its own length asks for nothing
    await page.fill('#seq-length', '2048');
    assert.match(await page.textContent('#cli-line') ?? '', /--seq-length 2048/);
    await page.fill('#seq-length', '1024');
    assert.doesNotMatch(await page.textContent('#cli-line') ?? '', /--seq-length/);
    assert.match(await page.textContent('#budget-help') ?? '', /squad's 10,334 samples of 1024 tokens/);
    await page.selectOption('#dataset', 'c4');
    assert.match(await page.textContent('#budget-help') ?? '', /c4's 175,000,000,000 tokens \(RedPajama/);
    await page.fill('#train-tokens', '2T');
    assert.match(await page.textContent('#cli-line') ?? '', /--train-tokens 2T/);
    await page.fill('#train-tokens', '');
    await page.selectOption('#dataset', 'squad');
    assert.deepEqual(await page.locator('#recipe option').allTextContents(), Object.keys((await import('../src/estimate/recipe.js')).RECIPES));
    // every field and term is explained where it is shown
    const untitled = await page.evaluate(`[...document.querySelectorAll('#form-fields label, .frontier-table th')].filter((l) => !(l.getAttribute('title') || '').trim()).map((l) => l.textContent.trim())`);
    assert.deepEqual(untitled, []);
    assert.match(await page.textContent('.glossary') ?? '', /TP \/ PP \/ DP.*OOM.*frontier/s);
    assert.match(await page.textContent('#search-form') ?? '', /Pareto searches each smaller cluster too/);

    // The CLI's validation, shown in the page: a GPU type without profiles.
    await page.click('#start');
    await page.waitForSelector('#form-error:not([hidden])');
    assert.match(await page.textContent('#form-error') ?? '', /no profile for model llama70b on GPU H100.*Fix: /s);
    assert.equal(await page.isEnabled('#start'), true);

    // A small search: A40 × 8 nodes, gbs 32, Pareto (8 GPUs per node by default).
    await page.selectOption('.gpu-type', 'A40');
    await page.fill('.gpu-nodes', '8');
    await page.fill('#gbs', '32');
    await page.check('#pareto');
    assert.match(await page.textContent('#cli-line') ?? '', /fasop search --gpus A40 8 --model-type llama70b --dataset squad --gbs 32 --pareto$/);
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'stopped', 'error'].includes((window as any).fasopViewer.status), null, { timeout: 45_000 });
    assert.equal(await page.textContent('#state-text'), 'done');
    assert.equal(await page.isHidden('#form-error'), true);
    assert.deepEqual(await counters(page), { done: cli.done, total: cli.total, valid: cli.valid, oom: cli.oom, frontier: cli.frontier });
    assert.equal(Number((await page.textContent('#card-frontier'))), cli.frontier);
    assert.equal(await page.textContent('#card-best'), cli.bestThroughput.toLocaleString('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 }));
    assert.equal(await page.locator('#frontier-body tr').count(), cli.frontier);
    assert.match(await page.textContent('#best-details') ?? '', /TP \/ PP \/ DP/);
    // The chart: grey plans, the blue frontier line, the star on the best throughput, the latest plan.
    const chart = await page.evaluate(() => {
      const opt = (window as any).echarts.getInstanceByDom(document.getElementById('chart')).getOption();
      return opt.series.map((s: any) => ({ name: s.name, type: s.type, n: s.data.length, color: s.lineStyle?.color ?? s.itemStyle?.color }));
    });
    assert.deepEqual(chart.map((s: any) => s.name), ['Other plans', 'Pareto frontier', 'Best throughput', 'Latest plan']);
    assert.deepEqual(chart[1], { name: 'Pareto frontier', type: 'line', n: cli.frontier, color: '#3b82f6' });
    assert.equal(chart[0].n, cli.valid - cli.frontier);
    assert.equal(chart[2].n, 1);
    assert.equal(chart[3].n, 1);
    // FASOP_WEB_SCREENSHOT=path keeps it (docs/img/ was made this way); else a temporary file.
    const shot = process.env['FASOP_WEB_SCREENSHOT'] ?? join(mkdtempSync(join(tmpdir(), 'fasop-shot-')), 'web-viewer.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: 15_000 });
    assert.ok(statSync(shot).size > 20_000, 'a real screenshot');

    // The export command of the best plan, then of a chosen frontier plan; the copy button copies it; the CLI runs it.
    assert.match(await page.textContent('#export-cmd') ?? '', /^fasop export --gpus A40 \d+ --model-type llama70b --dataset squad --gbs 32 --tp \d+ --dp \d+ --pp \d+ --mbs \d+ --gpu-per-node 8 --pareto --format megatron$/);
    await page.locator('#frontier-body tr').first().click();
    assert.equal(await page.textContent('#plan-heading'), 'Chosen plan');
    const chosen = await page.evaluate(`(() => { const v = window.fasopViewer; return v.plans[v.frontier[0]]; })()`) as { tp: number; dp: number; pp: number; mbs: number; gpu_cluster_str: string };
    const cmd = (await page.textContent('#export-cmd'))!;
    assert.ok(cmd.includes(`--gpus ${chosen.gpu_cluster_str.replace(':', ' ')} `) && cmd.includes(`--tp ${chosen.tp} --dp ${chosen.dp} --pp ${chosen.pp} --mbs ${chosen.mbs} `), cmd);
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    await page.click('#copy-export');
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), cmd);
    const exported = await runCli([...cmd.split(' ').slice(1), '--profile-dir', REF_PROFILES]);
    assert.equal(exported.code, 0, exported.err);
    assert.match(exported.out, new RegExp(`--tensor-model-parallel-size ${chosen.tp}\\b`));

    // An error clears the previous chart: a search that cannot start leaves no old results on show.
    await page.selectOption('.gpu-type', 'H100');
    await page.click('#start');
    await page.waitForSelector('#form-error:not([hidden])');
    assert.equal(await page.evaluate('window.fasopViewer.plans.length'), 0);
    assert.equal(await page.isVisible('#chart-empty'), true);
    assert.equal(await page.locator('#frontier-body tr').count(), 0);
    assert.equal(await page.textContent('#export-cmd'), '');
    await page.selectOption('.gpu-type', 'A40');

    // A large search: the page stays responsive while results stream; Stop halts it.
    await page.fill('.gpu-nodes', '32');
    await page.fill('#gbs-max', '512');
    await page.click('#start');
    await page.waitForFunction(() => (window as any).fasopViewer.status === 'running' && (window as any).fasopViewer.done > 0, null, { timeout: 20_000 });
    await page.waitForFunction(() => /plans\/s · ETA/.test(document.getElementById('count-rate')!.textContent!), null, { timeout: 10_000 });
    const t0 = Date.now();
    await page.evaluate(() => document.title);
    assert.ok(Date.now() - t0 < 2000, 'the page answers while the search runs');
    const total = Number(await page.textContent('#count-total'));
    await page.click('#stop');
    await page.waitForFunction(() => (window as any).fasopViewer.status === 'stopped', null, { timeout: 15_000 });
    const stopped = await counters(page);
    assert.ok(stopped.done < total, `stopped after ${stopped.done} of ${total}`);
    assert.equal(server.runner!.workerAlive, false, 'Stop terminated the worker thread');
    await page.waitForTimeout(300);
    assert.equal((await counters(page)).done, stopped.done);
    assert.equal(await page.isEnabled('#start'), true);

    // --watch: the same search's JSONL, written in two pieces to a file the page follows.
    const watchDir = tmp();
    const watched = join(watchDir, 'live.jsonl');
    watcher = await startServer({ port: 0, watch: watched });
    const watchOrigin = `http://127.0.0.1:${watcher.port}`;
    const wpage = await ctx.newPage();
    allowed.push(`${watchOrigin}/`);
    wpage.on('request', (r) => requests.push(r.url()));
    wpage.on('console', (m) => { if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location().url }); });
    wpage.on('pageerror', (e) => pageErrors.push(e.message));
    await wpage.goto(`${watchOrigin}/`);
    await wpage.waitForFunction(() => (window as any).fasopViewer?.status === 'watching');
    assert.equal(await wpage.isDisabled('#start'), true);
    assert.match(await wpage.textContent('#watch-note') ?? '', /live\.jsonl/);
    const text = readFileSync(cli.jsonl, 'utf8');
    writeFileSync(watched, text.slice(0, Math.floor(text.length / 3)));
    await wpage.waitForFunction(() => (window as any).fasopViewer.done > 0);
    appendFileSync(watched, text.slice(Math.floor(text.length / 3)));
    await wpage.waitForFunction(() => (window as any).fasopViewer.status === 'complete', null, { timeout: 20_000 });
    assert.deepEqual(await counters(wpage), { done: cli.done, total: cli.total, valid: cli.valid, oom: cli.oom, frontier: cli.frontier });
    await wpage.close();

    // Nothing left the machine; the console stayed clean (but for the one refused request above).
    assert.ok(requests.length >= 5);
    const foreign = requests.filter((u) => !allowed.some((a) => u.startsWith(a)));
    assert.deepEqual(foreign, [], 'every request goes to the server on 127.0.0.1');
    assert.deepEqual(pageErrors, []);
    const unexpected = consoleErrors.filter((e) => !(/status of 400/.test(e.text) && e.url === `${origin}/api/search`));
    assert.equal(consoleErrors.length - unexpected.length, 2, 'the two refused requests above');
    assert.deepEqual(unexpected, [], 'no console errors');
  } finally {
    if (ctx) await withTimeout(ctx.close(), 10_000, 'chromium close').catch(() => killChromium(userDataDir));
    await server.close();
    await watcher?.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
});
