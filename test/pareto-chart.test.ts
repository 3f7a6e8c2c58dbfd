import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FasopError } from '../src/errors.js';
import {
  CHART_LAYOUT, DEFAULT_FONT_FILES, NO_VALID_PARETO_WARNING, annotationLines, chartSubtitle, clusterColours, paretoChartSpec, paretoChartTitle,
  rasterizeSvg, renderParetoChart, svgPathFor, writeParetoChart, type ParetoChartRow,
} from '../src/report/chart.js';
import { readResultsCsv } from '../src/report/csv-read.js';
import { makeParetoFromCsv, paretoPngPathForCsv } from '../src/cli/make-pareto.js';

const FIX = 'test/fixtures/pareto';
const ORIGINAL = '../shared/reference/outputs';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'fasop-pareto-'));
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Number of dark (text-like) pixels in a rectangle of RGBA pixels. */
function darkPixels(img: { pixels: Uint8Array; width: number }, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * 4;
      if (img.pixels[i]! < 90 && img.pixels[i + 1]! < 90 && img.pixels[i + 2]! < 90) n++;
    }
  }
  return n;
}

/** The `<path` elements inside the SVG group whose class ends in `name_marks`. */
function marksIn(svg: string, name: string): string[] {
  const m = new RegExp(`<g class="[^"]*\\b${name}_marks"[^>]*>(.*?)</g>`, 's').exec(svg);
  assert.ok(m, `group ${name}_marks in the SVG`);
  return m[1]!.match(/<path [^>]*>/g) ?? [];
}

test('chart title forms follow the original', () => {
  assert.equal(paretoChartTitle({ paretoTitle: 'pareto_A40_8_squad_gbs64' }), 'pareto_A40_8_squad_gbs64 pareto frontier analysis');
  assert.equal(paretoChartTitle({ modelType: 'llama70b' }), 'LLAMA70B training pareto frontier analysis');
  assert.equal(paretoChartTitle({ paretoTitle: 'x', modelType: 'llama70b' }), 'x pareto frontier analysis');
  assert.equal(paretoChartTitle({}), 'Pareto frontier analysis');
  assert.equal(paretoChartTitle({ paretoTitle: '' }), 'Pareto frontier analysis');
});

test('chart: text really renders (title region has dark pixels with fonts, none without)', async () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  const chart = await renderParetoChart(rows, { title: 'text check pareto frontier analysis' });
  assert.ok(chart);
  assert.deepEqual(pngSize(chart.png), { width: 1800, height: 1200 });
  const withFonts = rasterizeSvg(chart.svg, DEFAULT_FONT_FILES);
  const noFonts = rasterizeSvg(chart.svg, []);
  const scale = withFonts.width / CHART_LAYOUT.svgWidth;
  const titleBand = [0, 0, withFonts.width, Math.floor(CHART_LAYOUT.pad.top * scale) - 4] as const;
  const titleDark = darkPixels(withFonts, ...titleBand);
  assert.ok(titleDark > 2000, `title band has ${titleDark} dark pixels`);
  assert.equal(darkPixels(noFonts, ...titleBand), 0, 'without fonts resvg draws no title at all');
  // axis titles (left and bottom margins) too
  const yTitleBand = [0, 0, Math.floor(35 * scale), withFonts.height] as const;
  assert.ok(darkPixels(withFonts, ...yTitleBand) > 1000);
  assert.equal(darkPixels(noFonts, ...yTitleBand), 0);
  // whole image: fonts add a lot of ink
  assert.ok(darkPixels(withFonts, 0, 0, withFonts.width, withFonts.height) > darkPixels(noFonts, 0, 0, noFonts.width, noFonts.height) + 10000);
});

test('chart: SVG has grey points, blue frontier points joined by a line, annotation, legend, axis titles', async () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  const chart = await renderParetoChart(rows, { title: 'marks pareto frontier analysis' });
  assert.ok(chart);
  const { svg } = chart;
  assert.equal(chart.validCount, 7);
  assert.equal(chart.frontierCount, 3);
  const frontier = marksIn(svg, 'frontier_points');
  assert.equal(frontier.length, 3);
  for (const p of frontier) {
    assert.match(p, /fill="#3b82f6"/);
    assert.match(p, /stroke="#1d4ed8"/);
  }
  const others = marksIn(svg, 'other_points');
  assert.equal(others.length, 4);
  for (const p of others) {
    assert.match(p, /fill="#888888"/);
    assert.match(p, /opacity="0.6"/);
  }
  const line = marksIn(svg, 'frontier_line');
  assert.equal(line.length, 1);
  assert.match(line[0]!, /stroke="#3b82f6"/);
  const d = /d="([^"]+)"/.exec(line[0]!)![1]!;
  assert.equal((d.match(/L/g) ?? []).length, 2, 'three frontier points → two segments');
  // segments go right and up (cost ascending, throughput ascending; SVG y grows downwards)
  const pts = d.slice(1).split('L').map((s) => s.split(',').map(Number) as [number, number]);
  for (let i = 1; i < pts.length; i++) {
    assert.ok(pts[i]![0] > pts[i - 1]![0]);
    assert.ok(pts[i]![1] < pts[i - 1]![1]);
  }
  // the annotation: the first max-throughput row in file order (index 6: gbs=64 mbs=2)
  assert.ok(svg.includes('gbs=64 mbs=2 tp=2 pp=16 dp=1'));
  assert.ok(svg.includes('total_time(s)=200.00'));
  assert.ok(svg.includes('>Training Cost ($)<'));
  assert.ok(svg.includes('>Throughput (samples/s)<'));
  assert.ok(svg.includes('>marks pareto frontier analysis<'));
  assert.ok(svg.includes('font-weight="bold"'));
  assert.ok(svg.includes('>Other configurations<') && svg.includes('>Pareto frontier<'));
  assert.equal(marksIn(svg, 'annotation_box').length, 1);
});

test('chart: axes span [0, 1.05·max cost] and [0, 1.1·max throughput]', () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  const built = paretoChartSpec(rows, 't')!;
  const layer = (built.spec as unknown as { layer: { name?: string; encoding: Record<string, { scale?: { domain: number[] } }> }[] }).layer;
  const pts = layer.find((l) => l.name === 'frontier_points')!;
  assert.deepEqual(pts.encoding.x!.scale!.domain, [0, 1.05 * 20]);
  assert.deepEqual(pts.encoding.y!.scale!.domain, [0, 1.1 * 4]);
});

test('chart: annotation stays inside the plot when the best plan is the most expensive', () => {
  const rows = readResultsCsv(join(FIX, 'max_at_right.csv'));
  const built = paretoChartSpec(rows, 't', (t, s) => 0.62 * s * t.length)!;
  const layer = (built.spec as unknown as { layer: { name?: string; encoding: Record<string, { value: number }> }[] }).layer;
  const box = layer.find((l) => l.name === 'annotation_box')!.encoding;
  assert.ok(box.x!.value >= 0 && box.x2!.value <= CHART_LAYOUT.plotWidth, `box x ${box.x!.value}..${box.x2!.value}`);
  assert.ok(box.y!.value >= 0 && box.y2!.value <= CHART_LAYOUT.plotHeight);
  assert.ok(box.x2!.value < CHART_LAYOUT.plotWidth * 0.96, 'flipped to the left of the point');
  assert.deepEqual(annotationLines(rows.at(-3)!), ['gbs=32 mbs=1 tp=1 pp=16 dp=1', 'total_time(s)=914.29']);
});

test('chart: no valid rows → undefined (the caller prints the warning)', async () => {
  const rows = readResultsCsv(join(ORIGINAL, 's1_A40x8_gbs32_squad_minmax.csv'));
  assert.equal(await renderParetoChart(rows, { title: 'x' }), undefined);
  assert.equal(await renderParetoChart([], { title: 'x' }), undefined);
  assert.equal(NO_VALID_PARETO_WARNING, '[WARNING] No valid (non-OOM) configurations found for Pareto graph.');
});

test('chart: a missing font file is a FasopError naming the package', async () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  for (const fontFiles of [['/nonexistent/DejaVuSans.ttf'], []]) {
    await assert.rejects(renderParetoChart(rows, { title: 'x', fontFiles }), (err: unknown) => {
      assert.ok(err instanceof FasopError);
      assert.match(err.oneLine(), /fonts-dejavu-core/);
      return true;
    });
  }
});

test('chart: writeParetoChart writes X.png and X.svg atomically; unwritable folder is a FasopError', async () => {
  const dir = tmp();
  try {
    const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
    const chart = (await renderParetoChart(rows, { title: 'w' }))!;
    const out = writeParetoChart(join(dir, 'chart.png'), chart);
    assert.equal(out.svgPath, join(dir, 'chart.svg'));
    assert.deepEqual(readdirSync(dir).sort(), ['chart.png', 'chart.svg']);
    assert.deepEqual(new Uint8Array(readFileSync(out.pngPath)), chart.png);
    assert.equal(readFileSync(out.svgPath, 'utf8'), chart.svg);
    assert.throws(() => writeParetoChart(join(dir, 'no', 'such', 'dir', 'c.png'), chart), FasopError);
    assert.deepEqual(readdirSync(dir).sort(), ['chart.png', 'chart.svg'], 'no temp files left behind');
    assert.equal(svgPathFor('/a/b.PNG'), '/a/b.svg');
    assert.equal(svgPathFor('/a/b'), '/a/b.svg');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('make-pareto: output paths follow SPEC §1.4', () => {
  assert.equal(paretoPngPathForCsv('main_logs/llama70b_pareto.csv'), 'main_logs/llama70b_pareto.png');
  assert.equal(paretoPngPathForCsv('main_logs/llama70b_pareto.csv', 'my_analysis'), join('main_logs', 'my_analysis.png'));
  assert.equal(paretoPngPathForCsv('/x/a.b.csv'), '/x/a.b.png');
  assert.equal(paretoPngPathForCsv('/x/noext'), '/x/noext.png');
});

test('make-pareto: the original s1 CSV (all OOM) writes nothing and returns the warning', async () => {
  const dir = tmp();
  try {
    const csv = join(dir, 's1.csv');
    copyFileSync(join(ORIGINAL, 's1_A40x8_gbs32_squad_minmax.csv'), csv);
    const r = await makeParetoFromCsv(csv);
    assert.equal(r.written, false);
    assert.equal(r.rowCount, 59);
    assert.ok(!r.written && r.warning === NO_VALID_PARETO_WARNING);
    assert.deepEqual(readdirSync(dir), ['s1.csv']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('make-pareto: writes CSV-named chart, or TITLE.png with --pareto-title', async () => {
  const dir = tmp();
  try {
    const csv = join(dir, 'results.csv');
    copyFileSync(join(FIX, 'small_valid.csv'), csv);
    const a = await makeParetoFromCsv(csv);
    assert.ok(a.written);
    assert.equal(a.pngPath, join(dir, 'results.png'));
    assert.equal(a.svgPath, join(dir, 'results.svg'));
    assert.equal(a.title, 'Pareto frontier analysis');
    assert.deepEqual([a.rowCount, a.validCount, a.frontierCount], [8, 7, 3]);
    assert.deepEqual(pngSize(readFileSync(a.pngPath)), { width: 1800, height: 1200 });
    assert.ok(readFileSync(a.svgPath, 'utf8').includes('>Pareto frontier analysis<'));

    const b = await makeParetoFromCsv(csv, { paretoTitle: 'my_analysis' });
    assert.ok(b.written);
    assert.equal(b.pngPath, join(dir, 'my_analysis.png'));
    assert.ok(readFileSync(b.svgPath, 'utf8').includes('>my_analysis pareto frontier analysis<'));
    assert.ok(existsSync(join(dir, 'my_analysis.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('make-pareto: missing CSV, bad title and bad CSV are FasopErrors', async () => {
  const missing = join(tmpdir(), 'fasop-definitely-missing', 'x.csv');
  await assert.rejects(makeParetoFromCsv(missing), (err: unknown) => err instanceof FasopError && /CSV file not found: /.test(err.message));
  await assert.rejects(makeParetoFromCsv(join(FIX, 'small_valid.csv'), { paretoTitle: '../escape' }), FasopError);
  await assert.rejects(makeParetoFromCsv(join(FIX, 'missing_columns.csv')), /lacks the columns/);
  await assert.rejects(makeParetoFromCsv(join(FIX, 'empty.csv')), /is empty/);
});

test('chart: 300-point synthetic multi-GBS CSV renders', async () => {
  const rows = readResultsCsv(join(FIX, 'synthetic_multi_gbs_300.csv'));
  assert.equal(rows.length, 300);
  const chart = await renderParetoChart(rows, { title: 'synthetic pareto frontier analysis' });
  assert.ok(chart);
  assert.equal(marksIn(chart.svg, 'frontier_points').length, chart.frontierCount);
  assert.equal(marksIn(chart.svg, 'other_points').length, chart.validCount - chart.frontierCount);
  assert.ok(chart.png.length < 300_000);
});

test('chart: the legend sits in the right margin, clear of the plot, whatever the data', () => {
  type L = { layer: { name?: string; encoding: Record<string, { value: number }> }[] };
  for (const csv of ['synthetic_multi_gbs_300.csv', 'max_at_right.csv', 'small_valid.csv']) {
    const built = paretoChartSpec(readResultsCsv(join(FIX, csv)), 't', (t, s) => 0.6 * s * t.length)!;
    const box = (built.spec as unknown as L).layer.find((l) => l.name === 'legend_box')!.encoding;
    assert.ok(box.x!.value > CHART_LAYOUT.plotWidth, `${csv}: legend starts right of the plot (${box.x!.value})`);
    assert.ok(box.x2!.value <= CHART_LAYOUT.plotWidth + CHART_LAYOUT.pad.right, `${csv}: and ends inside the figure`);
  }
});

/** Plans on two sub-clusters and two batch sizes: cost and throughput rise with the GPU count. */
function sweepRows(): ParetoChartRow[] {
  const rows: ParetoChartRow[] = [];
  for (const [cluster, nodes] of [['A40:1', 1], ['A40:2', 2]] as const) {
    for (const gbs of [8, 16]) {
      for (const mbs of [1, 2, 4]) {
        const thr = nodes * gbs * (1 + mbs / 8);
        rows.push({ gbs, mbs, tp: 4, pp: nodes, dp: 1, costUsd: nodes * 10 + 40 / mbs + gbs, throughputSamplesPerS: thr, isOom: false, totalTimeS: 1000 / thr, gpuCluster: cluster });
      }
    }
  }
  return rows;
}

test('chart: a sweep colours points by sub-cluster, shapes them by gbs, labels every frontier plan and names both in the legend', async () => {
  const rows = sweepRows();
  const subtitle = chartSubtitle(rows, { model: 'llama70b', dataset: 'c4' });
  assert.equal(subtitle, 'model llama70b · cluster A40:2 (2 sub-clusters) · dataset c4 · gbs 8–16');
  const chart = (await renderParetoChart(rows, { title: 'LLAMA70B training pareto frontier analysis', subtitle }))!;
  const { svg } = chart;
  const colours = clusterColours(rows);
  assert.deepEqual([...colours.keys()], ['A40:1', 'A40:2'], 'smallest sub-cluster first');
  // every point is filled with its sub-cluster's colour
  const all = [...marksIn(svg, 'other_points'), ...marksIn(svg, 'frontier_points')];
  assert.equal(all.length, rows.length);
  const fills = new Set(all.map((p) => /fill="([^"]+)"/.exec(p)![1]));
  assert.deepEqual(fills, new Set(colours.values()));
  // two shapes (gbs 8 circles, gbs 16 squares) among the marks' paths
  assert.equal(new Set(all.map((p) => /d="([^"]+)"/.exec(p)![1]!.replace(/[\d.-]+/g, '#'))).size, 2);
  // each frontier plan but the annotated one has its label; the annotated one names its sub-cluster
  const texts = [...svg.matchAll(/<(?:text|tspan)[^>]*>([^<]+)</g)].map((m) => m[1]!);
  const labels = texts.filter((t) => /^A40:\d tp\d pp\d dp\d mbs\d gbs\d+$/.test(t));
  assert.equal(labels.length, chart.frontierCount - 1, texts.join(' | '));
  assert.ok(texts.some((t) => /^sub-cluster A40:2 \(8 GPUs\)$/.test(t)));
  for (const t of ['Sub-cluster (colour)', 'A40:1 (4 GPUs)', 'A40:2 (8 GPUs)', 'Global batch (shape)', 'gbs 8', 'gbs 16', 'Pareto frontier', 'Other configurations', subtitle]) {
    assert.ok(texts.includes(t), `legend/subtitle text ${t}`);
  }
  // and the text is really drawn: the legend column has ink with fonts, none without
  const withFonts = rasterizeSvg(svg, DEFAULT_FONT_FILES);
  const noFonts = rasterizeSvg(svg, []);
  const scale = withFonts.width / CHART_LAYOUT.svgWidth;
  const x0 = Math.floor((CHART_LAYOUT.pad.left + CHART_LAYOUT.plotWidth + 40) * scale);
  const band = [x0, Math.floor(CHART_LAYOUT.pad.top * scale), withFonts.width, Math.floor((CHART_LAYOUT.pad.top + 200) * scale)] as const;
  assert.ok(darkPixels(withFonts, ...band) > 1500, `legend labels: ${darkPixels(withFonts, ...band)} dark pixels`);
  assert.ok(darkPixels(noFonts, ...band) < 200, 'without fonts only the symbols are left');
});

test('chart: a long title is set smaller so that it fits', async () => {
  const rows = readResultsCsv(join(FIX, 'small_valid.csv'));
  const title = `${'a_very_long_experiment_name_'.repeat(4)} pareto frontier analysis`;
  const chart = (await renderParetoChart(rows, { title }))!;
  const m = /font-size="([\d.]+)px" font-weight="bold"[^>]*>a_very_long/.exec(chart.svg);
  assert.ok(m, 'title text in the SVG');
  assert.ok(Number(m[1]) < 16 && Number(m[1]) >= 8, `title font size ${m[1]}`);
  const short = (await renderParetoChart(rows, { title: 'short' }))!;
  assert.match(short.svg, /font-size="16px" font-weight="bold"[^>]*>short</);
});

test('chart: degenerate inputs still draw (one plan, zero cost and throughput, non-finite rows skipped)', async () => {
  const base = { gbs: 1, mbs: 1, tp: 1, pp: 1, dp: 1, isOom: false, totalTimeS: 1 };
  const one = await renderParetoChart([{ ...base, costUsd: 0, throughputSamplesPerS: 0 }], { title: 'one' });
  assert.ok(one);
  assert.deepEqual([one.validCount, one.frontierCount], [1, 1]);
  assert.deepEqual(pngSize(one.png), { width: 1800, height: 1200 });
  const mixed = await renderParetoChart(
    [{ ...base, costUsd: Number.NaN, throughputSamplesPerS: 1 }, { ...base, costUsd: 2, throughputSamplesPerS: Infinity }, { ...base, costUsd: 3, throughputSamplesPerS: 2 }],
    { title: 'mixed' },
  );
  assert.ok(mixed);
  assert.equal(mixed.validCount, 1);
  const none = await renderParetoChart([{ ...base, costUsd: Number.NaN, throughputSamplesPerS: 1 }], { title: 'none' });
  assert.equal(none, undefined);
});
