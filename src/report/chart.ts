import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { writeError } from '../guard/write.js';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FasopError } from '../errors.js';
import { paretoFrontier } from './pareto.js';

/**
 * The Pareto chart (SPEC §13.6), drawn like the original's matplotlib figure: a vega-lite spec is
 * compiled to SVG by vega (no browser, no canvas), and resvg turns the SVG into a PNG with the
 * DejaVu fonts passed explicitly (resvg draws no text at all without font files).
 *
 * Geometry: the SVG is laid out at 864×576 (12×8 in at 72 dpi, so font sizes are in points like
 * matplotlib's) and the PNG is rendered at 1800 px wide (≈ 12×8 in at 150 dpi, 1800×1200).
 */

/** What the chart needs of a plan. `ResultRow` (csv-read.ts) has these fields. */
export interface ParetoChartRow {
  gbs: number;
  mbs: number;
  tp: number;
  pp: number;
  dp: number;
  costUsd: number;
  throughputSamplesPerS: number;
  isOom: boolean;
  totalTimeS: number;
  /** sub-cluster of the plan, e.g. `A40:3` or `A40:2, A100:1` (column `gpu_cluster`) */
  gpuCluster?: string;
  /** context-parallel degree; absent: the `cp` column of `extra` (a results CSV's), else 1 */
  cp?: number;
  /** a results CSV's columns beyond the original's, by name */
  extra?: Record<string, string>;
}

/** A plan's context-parallel degree: its own field, else its CSV `cp` cell, else 1 (the original's files have none). */
export function cpOfRow(r: ParetoChartRow): number {
  if (r.cp !== undefined) return r.cp;
  const cell = r.extra?.['cp']?.trim();
  return cell && /^\d+$/.test(cell) && Number(cell) >= 1 ? Number(cell) : 1;
}

/** GPUs a plan uses: tp·cp·dp·pp. */
export function gpusOfRow(r: ParetoChartRow): number {
  return r.tp * cpOfRow(r) * r.dp * r.pp;
}

export interface ParetoChartOptions {
  /** the full title, e.g. from `paretoChartTitle()` */
  title: string;
  /** font files for resvg: regular first, then bold; default DEFAULT_FONT_FILES */
  fontFiles?: readonly string[];
  /** PNG width in px; default 1800 */
  pngWidthPx?: number;
  /** second title line: model, cluster, dataset (`chartSubtitle`) */
  subtitle?: string;
}

export interface ParetoChart {
  svg: string;
  png: Uint8Array;
  /** non-OOM rows with finite cost and throughput (the points drawn) */
  validCount: number;
  frontierCount: number;
  title: string;
}

/** The original's message when there is nothing to draw; no file is written then. */
export const NO_VALID_PARETO_WARNING = '[WARNING] No valid (non-OOM) configurations found for Pareto graph.';

export const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
/** Debian/Ubuntu package that holds them: fonts-dejavu-core. */
export const DEFAULT_FONT_FILES: readonly string[] = [`${FONT_DIR}/DejaVuSans.ttf`, `${FONT_DIR}/DejaVuSans-Bold.ttf`];
const FONT_FAMILY = 'DejaVu Sans';

export const COLORS = {
  other: '#888888',
  frontier: '#3b82f6',
  frontierEdge: '#1d4ed8',
  frontierEdgeMulti: '#111827',
  plotBackground: '#f8fafc',
} as const;

/**
 * The chart title the original uses.
 * - `--pareto-title T` given: `T pareto frontier analysis`;
 * - otherwise after a search (`modelType` given): `{MODEL upper-cased} training pareto frontier analysis`;
 * - otherwise (`--only-make-pareto` without a title): `Pareto frontier analysis`.
 */
export function paretoChartTitle(opts: { paretoTitle?: string | undefined; modelType?: string | undefined } = {}): string {
  if (opts.paretoTitle !== undefined && opts.paretoTitle !== '') return `${opts.paretoTitle} pareto frontier analysis`;
  if (opts.modelType !== undefined && opts.modelType !== '') return `${opts.modelType.toUpperCase()} training pareto frontier analysis`;
  return 'Pareto frontier analysis';
}

/** Throw a FasopError naming the package when a font file is missing. */
export function checkFontFiles(files: readonly string[]): void {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new FasopError(
      `font file${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found, so the Pareto chart's text cannot be drawn`,
      'install the DejaVu fonts (Debian/Ubuntu: apt-get install fonts-dejavu-core)',
    );
  }
}

// Logical layout (SVG units = points at 72 dpi).
const SVG_WIDTH = 864;
const SVG_HEIGHT = 576;
const PAD = { left: 72, right: 178, top: 62, bottom: 52 };
const PLOT_WIDTH = SVG_WIDTH - PAD.left - PAD.right;
const PLOT_HEIGHT = SVG_HEIGHT - PAD.top - PAD.bottom;
/** The fixed layout, in SVG units (the PNG is this scaled to `pngWidthPx`). */
export const CHART_LAYOUT = { svgWidth: SVG_WIDTH, svgHeight: SVG_HEIGHT, pad: PAD, plotWidth: PLOT_WIDTH, plotHeight: PLOT_HEIGHT } as const;
const FONT_ANNOTATION = 10;

/** Width of a line of text in DejaVu Sans (bold or not), measured by resvg. */
function measureTextWidth(text: string, fontSize: number, fontFiles: readonly string[], bold = false): number {
  const esc = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="100"><text x="0" y="50" font-family="${FONT_FAMILY}" font-size="${fontSize}"${bold ? ' font-weight="bold"' : ''}>${esc}</text></svg>`;
  const box = new Resvg(svg, resvgOptions(fontFiles)).getBBox();
  return box ? box.width : 0.6 * fontSize * text.length;
}

function resvgOptions(fontFiles: readonly string[], widthPx?: number): ConstructorParameters<typeof Resvg>[1] {
  return {
    font: {
      loadSystemFonts: false,
      fontFiles: [...fontFiles],
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
    background: 'white',
    ...(widthPx !== undefined ? { fitTo: { mode: 'width' as const, value: widthPx } } : {}),
    logLevel: 'off',
  };
}

const fmt2 = (x: number) => x.toFixed(2);

/** Sub-cluster of a plan as the legend names it: its `gpu_cluster`, else its GPU count. */
export function clusterKey(r: ParetoChartRow): string {
  return r.gpuCluster ?? `${gpusOfRow(r)} GPUs`;
}

/** A short label of a frontier plan: sub-cluster (when several), degrees, micro batch, gbs (in a sweep). */
export function frontierLabel(r: ParetoChartRow, withCluster: boolean, withGbs: boolean): string {
  const cp = cpOfRow(r);
  return `${withCluster ? `${clusterKey(r)} ` : ''}tp${r.tp}${cp > 1 ? ` cp${cp}` : ''} pp${r.pp} dp${r.dp} mbs${r.mbs}${withGbs ? ` gbs${r.gbs}` : ''}`;
}

/** Tableau's 10 categorical colours; more sub-clusters take evenly spaced viridis colours. */
const CATEGORICAL = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
/** One marker shape per gbs of a sweep (cycled past nine). */
export const GBS_SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'triangle-down', 'cross', 'triangle-right', 'triangle-left', 'wedge'] as const;

function rampColour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.floor(x);
  const j = Math.min(VIRIDIS.length - 1, i + 1);
  const mix = (a: string, b: string, k: number) => Math.round(parseInt(a, 16) * (1 - k) + parseInt(b, 16) * k).toString(16).padStart(2, '0');
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[j]!];
  return `#${mix(a.slice(1, 3), b.slice(1, 3), x - i)}${mix(a.slice(3, 5), b.slice(3, 5), x - i)}${mix(a.slice(5, 7), b.slice(5, 7), x - i)}`;
}

/** Colour of each sub-cluster, smallest (fewest GPUs) first. */
export function clusterColours(rows: readonly ParetoChartRow[]): Map<string, string> {
  const gpus = new Map<string, number>();
  for (const r of rows) gpus.set(clusterKey(r), Math.max(gpus.get(clusterKey(r)) ?? 0, gpusOfRow(r)));
  const keys = [...gpus.keys()].sort((a, b) => gpus.get(a)! - gpus.get(b)! || a.localeCompare(b));
  return new Map(keys.map((k, i) => [k, keys.length <= CATEGORICAL.length ? CATEGORICAL[i]! : rampColour(i / (keys.length - 1))]));
}

/** The subtitle: model, cluster, dataset and gbs of the rows, from their columns (what is not recorded is left out). */
export function chartSubtitle(rows: readonly (ParetoChartRow & { extra?: Record<string, string> })[], given: { model?: string; cluster?: string; dataset?: string } = {}): string {
  const first = rows.find((r) => r.extra);
  const model = given.model ?? first?.extra?.['model'];
  const dataset = given.dataset ?? first?.extra?.['dataset'];
  const tokens = Number(first?.extra?.['train_tokens']);
  const biggest = rows.reduce<ParetoChartRow | undefined>((a, r) => (!a || gpusOfRow(r) > gpusOfRow(a) ? r : a), undefined);
  const clusters = new Set(rows.map(clusterKey));
  const cluster = given.cluster ?? biggest?.gpuCluster;
  const gbs = [...new Set(rows.map((r) => r.gbs))].sort((a, b) => a - b);
  const parts = [
    model ? `model ${model}` : '',
    cluster ? `cluster ${cluster}${clusters.size > 1 ? ` (${clusters.size} sub-clusters)` : ''}` : '',
    dataset ? `dataset ${dataset}${Number.isFinite(tokens) && tokens > 0 ? ` (${formatTokens(tokens)} tokens)` : ''}` : 'dataset not recorded',
    gbs.length ? `gbs ${gbs.length > 1 ? `${gbs[0]}–${gbs.at(-1)}` : gbs[0]}` : '',
  ];
  return parts.filter(Boolean).join(' · ');
}

/** `175B`, `2T`, `9.04B`: a token count in short form. */
export function formatTokens(n: number): string {
  for (const [d, u] of [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']] as const) if (n >= d) return `${Number((n / d).toPrecision(3))}${u}`;
  return String(n);
}

/** The annotation text of the highest-throughput plan (its sub-cluster too when there are several). */
export function annotationLines(row: ParetoChartRow, withCluster = false): string[] {
  return [
    `gbs=${row.gbs} mbs=${row.mbs} tp=${row.tp}${cpOfRow(row) > 1 ? ` cp=${cpOfRow(row)}` : ''} pp=${row.pp} dp=${row.dp}`,
    ...(withCluster ? [`sub-cluster ${clusterKey(row)} (${gpusOfRow(row)} GPUs)`] : []),
    `total_time(s)=${fmt2(row.totalTimeS)}`,
  ];
}

/**
 * Build the vega-lite spec. Returns undefined when no row is drawable (non-OOM, finite cost and
 * throughput). `measure` gives text widths for the annotation box.
 */
export function paretoChartSpec(
  rows: readonly ParetoChartRow[],
  title: string,
  measure: TextMeasure = (t, s, bold) => (bold ? 0.7 : 0.6) * s * t.length,
  subtitle?: string,
): { spec: TopLevelSpec; validCount: number; frontierCount: number } | undefined {
  const drawable = rows.filter((r) => !r.isOom && Number.isFinite(r.costUsd) && Number.isFinite(r.throughputSamplesPerS));
  if (drawable.length === 0) return undefined;
  const result = paretoFrontier(drawable, (r) => ({ cost: r.costUsd, throughput: r.throughputSamplesPerS, isOom: r.isOom }));
  const best = result.maxThroughput!;

  const maxCost = Math.max(...drawable.map((r) => r.costUsd));
  const maxThr = Math.max(...drawable.map((r) => r.throughputSamplesPerS));
  // A degenerate axis (all zero) still needs a range.
  const xMax = maxCost > 0 ? 1.05 * maxCost : 1;
  const yMax = maxThr > 0 ? 1.1 * maxThr : 1;
  const px = (cost: number) => (cost / xMax) * PLOT_WIDTH;
  const py = (thr: number) => PLOT_HEIGHT - (thr / yMax) * PLOT_HEIGHT;

  const [OTHER, FRONTIER] = LEGEND_LABELS;
  // colour by sub-cluster (the original's grey and blue when there is one), shape by gbs in a sweep
  const colours = clusterColours(drawable);
  const multi = colours.size > 1;
  const gbsValues = [...new Set(drawable.map((r) => r.gbs))].sort((a, b) => a - b);
  const sweep = gbsValues.length > 1;
  const shapeOf = (r: ParetoChartRow) => (sweep ? GBS_SHAPES[gbsValues.indexOf(r.gbs) % GBS_SHAPES.length]! : 'circle');
  const point = (r: ParetoChartRow, series: string) => ({
    cost: r.costUsd, throughput: r.throughputSamplesPerS, series,
    gbs: r.gbs, mbs: r.mbs, tp: r.tp, pp: r.pp, dp: r.dp, total_time_s: r.totalTimeS,
    colour: multi ? colours.get(clusterKey(r))! : series === FRONTIER ? COLORS.frontier : COLORS.other,
    shape: shapeOf(r),
  });
  const others = result.others.map((r) => point(r, OTHER));
  const frontierLine = result.frontier.map((r, order) => ({ ...point(r, FRONTIER), order }));

  // Pixel positions of everything drawn, so the legend and the annotation can avoid covering it.
  const dots = drawable.map((r) => ({ x: px(r.costUsd), y: py(r.throughputSamplesPerS) }));
  const segments = result.frontier.slice(1).map((r, i) => ({
    x0: px(result.frontier[i]!.costUsd), y0: py(result.frontier[i]!.throughputSamplesPerS),
    x1: px(r.costUsd), y1: py(r.throughputSamplesPerS),
  }));
  const legend = placeLegend(measure, { colours, gpusOf: groupGpus(drawable), multi, gbsValues, sweep });

  // Annotation: matplotlib's annotate(xytext=(cost + 0.1·max cost, thr − 0.05·max thr)) is the
  // first choice; when that box would be cut off or cover the legend, points or the frontier line,
  // the least-covering of a few alternatives (left of the point, further down, above) is used.
  const lines = annotationLines(best, multi);
  const lineHeight = FONT_ANNOTATION * 1.25;
  const padX = 6;
  const padY = 5;
  const textW = Math.max(...lines.map((l) => measure(l, FONT_ANNOTATION)));
  const boxW = textW + 2 * padX;
  const boxH = lines.length * lineHeight + 2 * padY;
  const bx = px(best.costUsd);
  const by = py(best.throughputSamplesPerS);
  const dx = px(0.1 * maxCost);
  const dy = PLOT_HEIGHT - py(0.05 * maxThr);
  const candidates: Box[] = [];
  for (const down of [dy, 3 * dy, 6 * dy, -dy - boxH]) {
    candidates.push({ left: bx + dx, top: by + down - padY, w: boxW, h: boxH });
    candidates.push({ left: bx - dx - boxW, top: by + down - padY, w: boxW, h: boxH });
  }
  const scored = candidates.map((b, i) => ({ b, i, score: coverScore(b, dots, segments) }));
  scored.sort((a, b) => a.score - b.score || a.i - b.i);
  const chosen = scored[0]!.score < OUT_OF_PLOT ? scored[0]!.b : clampBox(candidates[0]!);
  const left = chosen.left;
  const top = chosen.top;
  // the arrow leaves the box edge that faces the point and stops at the marker's edge
  const ax = left > bx ? left : left + boxW < bx ? left + boxW : bx;
  const ay = ax === bx ? (top > by ? top : top + boxH) : Math.min(Math.max(by, top + 4), top + boxH - 4);
  const len = Math.hypot(bx - ax, by - ay);
  const markerR = 6.5;
  const tipX = len > markerR ? bx - ((bx - ax) / len) * markerR : bx;
  const tipY = len > markerR ? by - ((by - ay) / len) * markerR : by;
  const angleDeg = (Math.atan2(tipX - ax, -(tipY - ay)) * 180) / Math.PI;

  // every other frontier point gets a label with its plan, placed where it covers least
  const labelFont = 8;
  const placed: Box[] = [{ left, top, w: boxW, h: boxH }];
  const labels = result.frontier.filter((r) => r !== best).map((r) => {
    const text = frontierLabel(r, multi, sweep);
    const w = measure(text, labelFont) + 2;
    const h = labelFont * 1.25;
    const px0 = px(r.costUsd);
    const py0 = py(r.throughputSamplesPerS);
    const offsets: [number, number][] = [];
    for (const dx of [8, 30, 60]) for (const dy of [2, -h - 2, 12, -h - 12, 24, -h - 24]) offsets.push([dx, dy], [-w - dx, dy]);
    for (const o of placed) offsets.push([o.left + o.w + 6 - px0, -h / 2], [o.left - w - 6 - px0, -h / 2]);
    const options = offsets.map(([dx, dy], i) => {
      const b = { left: px0 + dx, top: py0 + dy, w, h };
      const clash = placed.filter((o) => b.left < o.left + o.w && o.left < b.left + b.w && b.top < o.top + o.h && o.top < b.top + b.h).length;
      // covering a few faint points is better than a label far from its point
      const cover = coverScore(b, dots, segments);
      return { b, i, score: (cover >= OUT_OF_PLOT ? cover : 0.25 * cover) + 500 * clash + 0.05 * Math.hypot(dx + w / 2, dy + h / 2) };
    }).sort((a, b) => a.score - b.score || a.i - b.i);
    const b = options[0]!.score < OUT_OF_PLOT ? options[0]!.b : clampBox({ left: px0 + 8, top: py0 + 2, w, h });
    placed.push(b);
    // a leader line from the point to the label's nearest edge when the label sits away from it
    const ex = Math.min(Math.max(px0, b.left), b.left + b.w);
    const ey = Math.min(Math.max(py0, b.top), b.top + b.h);
    return { lx: b.left, ly: b.top, text, x0: px0, y0: py0, x1: ex, y1: ey, far: Math.hypot(ex - px0, ey - py0) > 12 };
  });

  const x = { field: 'cost', type: 'quantitative' as const, title: 'Training Cost ($)', scale: { domain: [0, xMax], nice: false, zero: true } };
  const y = { field: 'throughput', type: 'quantitative' as const, title: 'Throughput (samples/s)', scale: { domain: [0, yMax], nice: false, zero: true } };
  const one = { values: [{}] };
  // 16 pt bold like the original; a title too long for the figure is set smaller (down to 8 pt)
  const titleRoom = 2 * Math.min(PAD.left + PLOT_WIDTH / 2, SVG_WIDTH - PAD.left - PLOT_WIDTH / 2) - 16;
  const titleFontSize = Math.max(8, Math.min(16, Math.floor((16 * titleRoom) / Math.max(1, measure(title, 16, true)) * 10) / 10));

  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: titleFontSize, fontWeight: 'bold', offset: 12, ...(subtitle ? { subtitle, subtitleFontSize: 11, subtitleColor: '#333333', subtitlePadding: 4 } : {}) },
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    background: 'white',
    // fixed layout: vega cannot measure text without a canvas, so let it not size anything
    autosize: { type: 'none' },
    padding: PAD,
    config: {
      font: FONT_FAMILY,
      view: { fill: COLORS.plotBackground, stroke: '#000000', strokeWidth: 0.8 },
      axis: {
        titleFontSize: 14, titleFontWeight: 'bold', titleColor: '#000000', titlePadding: 8,
        labelFontSize: 10, labelColor: '#000000', tickColor: '#000000', domainColor: '#000000',
        grid: true, gridDash: [4, 3], gridColor: '#b0b0b0', gridOpacity: 0.45, gridWidth: 0.8,
        tickCount: 8,
      },
    },
    layer: [
      {
        name: 'other_points',
        data: { values: others },
        mark: { type: 'point', filled: true, opacity: 0.6, size: 30, strokeWidth: 0 },
        encoding: { x, y, color: { field: 'colour', type: 'nominal', scale: null }, shape: { field: 'shape', type: 'nominal', scale: null } },
      },
      {
        name: 'frontier_line',
        data: { values: frontierLine },
        mark: { type: 'line', color: COLORS.frontier, strokeWidth: 1.8, opacity: 0.9 },
        encoding: { x, y, order: { field: 'order', type: 'quantitative' } },
      },
      {
        name: 'frontier_points',
        data: { values: frontierLine },
        mark: { type: 'point', filled: true, stroke: multi ? COLORS.frontierEdgeMulti : COLORS.frontierEdge, strokeWidth: 1.5, size: 100, opacity: 1 },
        encoding: { x, y, color: { field: 'colour', type: 'nominal', scale: null }, shape: { field: 'shape', type: 'nominal', scale: null } },
      },
      {
        name: 'frontier_label_leaders',
        data: { values: labels.filter((l) => l.far) },
        mark: { type: 'rule', color: '#6b7280', strokeWidth: 0.7 },
        encoding: {
          x: { field: 'x0', type: 'quantitative', scale: null }, y: { field: 'y0', type: 'quantitative', scale: null },
          x2: { field: 'x1' }, y2: { field: 'y1' },
        },
      },
      {
        name: 'frontier_labels',
        data: { values: labels },
        mark: { type: 'text', align: 'left', baseline: 'top', fontSize: labelFont, color: '#111111' },
        encoding: { x: { field: 'lx', type: 'quantitative', scale: null }, y: { field: 'ly', type: 'quantitative', scale: null }, text: { field: 'text' } },
      },
      {
        name: 'annotation_arrow',
        data: one,
        mark: { type: 'rule', color: COLORS.frontier, strokeWidth: 1.2 },
        encoding: { x: { value: ax }, y: { value: ay }, x2: { value: tipX }, y2: { value: tipY } },
      },
      {
        name: 'annotation_arrow_head',
        data: one,
        mark: { type: 'point', shape: 'triangle-up', filled: true, color: COLORS.frontier, opacity: 1, size: 30, angle: angleDeg },
        encoding: { x: { value: tipX - ((tipX - ax) / (len || 1)) * 3 }, y: { value: tipY - ((tipY - ay) / (len || 1)) * 3 } },
      },
      {
        name: 'annotation_box',
        data: one,
        mark: { type: 'rect', fill: 'white', stroke: COLORS.frontier, strokeWidth: 1.5, cornerRadius: 5 },
        encoding: { x: { value: left }, x2: { value: left + boxW }, y: { value: top }, y2: { value: top + boxH } },
      },
      {
        name: 'annotation_text',
        data: { values: [{ text: lines }] },
        mark: { type: 'text', align: 'left', baseline: 'top', fontSize: FONT_ANNOTATION, lineHeight, color: '#000000' },
        encoding: { x: { value: left + padX }, y: { value: top + padY }, text: { field: 'text' } },
      },
      ...legend.layers,
    ],
  } as TopLevelSpec;
  return { spec, validCount: drawable.length, frontierCount: result.frontier.length };
}

/** Width in SVG units of one line of text at a font size (px = pt here). */
export type TextMeasure = (text: string, fontSize: number, bold?: boolean) => number;

interface Box {
  left: number;
  top: number;
  w: number;
  h: number;
}
interface Segment {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
const LEGEND_LABELS = ['Other configurations', 'Pareto frontier'] as const;
const OUT_OF_PLOT = 1e9;

/** How much a box covers: points under it, frontier line under it, the legend; huge when cut off. */
function coverScore(b: Box, dots: readonly { x: number; y: number }[], segments: readonly Segment[], avoid?: Box): number {
  const m = 3;
  if (b.left < m || b.top < m || b.left + b.w > PLOT_WIDTH - m || b.top + b.h > PLOT_HEIGHT - m) return OUT_OF_PLOT;
  const inside = (x: number, y: number, r = 5) => x >= b.left - r && x <= b.left + b.w + r && y >= b.top - r && y <= b.top + b.h + r;
  let score = dots.filter((d) => inside(d.x, d.y)).length;
  for (const s of segments) {
    const n = 24;
    for (let k = 0; k <= n; k++) {
      if (inside(s.x0 + ((s.x1 - s.x0) * k) / n, s.y0 + ((s.y1 - s.y0) * k) / n, 1)) {
        score += 3;
        break;
      }
    }
  }
  if (avoid && b.left < avoid.left + avoid.w && avoid.left < b.left + b.w && b.top < avoid.top + avoid.h && avoid.top < b.top + b.h) {
    score += 1000;
  }
  return score;
}

function clampBox(b: Box): Box {
  return {
    ...b,
    left: Math.min(Math.max(b.left, 4), PLOT_WIDTH - b.w - 4),
    top: Math.min(Math.max(b.top, 4), PLOT_HEIGHT - b.h - 4),
  };
}

/** The most GPUs a plan of each sub-cluster uses (its size, for the legend). */
function groupGpus(rows: readonly ParetoChartRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) out.set(clusterKey(r), Math.max(out.get(clusterKey(r)) ?? 0, gpusOfRow(r)));
  return out;
}

/**
 * The legend, drawn by hand in the right margin (vega's own legend cannot show one symbol per series
 * with different sizes, opacities and strokes, and it truncates labels whose width it can only
 * estimate without a canvas): the frontier and the other plans, then one colour per sub-cluster
 * (when there are several) and one shape per gbs (in a sweep).
 */
function placeLegend(
  measure: TextMeasure,
  g: { colours: Map<string, string>; gpusOf: Map<string, number>; multi: boolean; gbsValues: number[]; sweep: boolean },
): { box: Box; layers: object[] } {
  const [other, frontier] = LEGEND_LABELS;
  const fontSize = 10;
  const rowH = 15;
  const pad = 6;
  const symbolW = 20;
  const maxRows = Math.floor((PLOT_HEIGHT - 2 * pad) / rowH);
  type Row = { label: string; kind: 'frontier' | 'other' | 'colour' | 'shape' | 'header'; colour?: string; shape?: string };
  const rows: Row[] = [{ label: frontier, kind: 'frontier' }, { label: other, kind: 'other' }];
  const clusterRows: Row[] = g.multi ? [...g.colours].map(([k, c]) => ({ label: `${k} (${g.gpusOf.get(k)} GPUs)`, kind: 'colour' as const, colour: c })) : [];
  const gbsRows: Row[] = g.sweep ? g.gbsValues.map((v, i) => ({ label: `gbs ${v}`, kind: 'shape' as const, shape: GBS_SHAPES[i % GBS_SHAPES.length]! })) : [];
  const room = maxRows - rows.length - (clusterRows.length ? 1 : 0) - (gbsRows.length ? 1 : 0);
  const gbsShown = gbsRows.slice(0, Math.max(1, Math.min(gbsRows.length, Math.floor(room / 2))));
  let clusterShown = clusterRows.slice(0, Math.max(0, room - gbsShown.length));
  if (clusterShown.length < clusterRows.length) {
    clusterShown = [...clusterShown.slice(0, -1), { label: `… ${clusterRows.length - clusterShown.length + 1} more`, kind: 'header' }];
  }
  if (clusterShown.length) rows.push({ label: 'Sub-cluster (colour)', kind: 'header' }, ...clusterShown);
  if (gbsShown.length) rows.push({ label: 'Global batch (shape)', kind: 'header' }, ...gbsShown);
  const labelW = Math.max(...rows.map((r) => measure(r.label, fontSize, r.kind === 'header')));
  const left = PLOT_WIDTH + 12;
  const w = Math.min(PAD.right - 16, pad + symbolW + 6 + labelW + pad);
  const h = rows.length * rowH + pad;
  const top = 0;
  const box = { left, top, w, h };
  const cx = left + pad + symbolW / 2;
  const rowY = (i: number) => top + pad / 2 + rowH * i + rowH / 2;
  const one = { values: [{}] };
  const at = (kind: Row['kind']) => rows.map((r, i) => ({ ...r, y: rowY(i) })).filter((r) => r.kind === kind);
  const frontierY = rowY(0);
  const otherY = rowY(1);
  const symbols = (kind: 'colour' | 'shape') => ({
    name: `legend_${kind}_symbols`,
    data: { values: at(kind).map((r) => ({ y: r.y, colour: r.colour ?? '#555555', shape: r.shape ?? 'circle' })) },
    mark: { type: 'point', filled: true, size: 50, opacity: 1, strokeWidth: 0 },
    encoding: {
      x: { value: cx },
      y: { field: 'y', type: 'quantitative', scale: null },
      color: { field: 'colour', type: 'nominal', scale: null },
      shape: { field: 'shape', type: 'nominal', scale: null },
    },
  });
  const text = (name: string, kind: Row['kind'], bold: boolean, x0: number) => ({
    name,
    data: { values: at(kind).map((r) => ({ label: r.label, y: r.y })) },
    mark: { type: 'text', align: 'left', baseline: 'middle', fontSize, color: '#000000', ...(bold ? { fontWeight: 'bold' } : {}) },
    encoding: { x: { value: x0 }, y: { field: 'y', type: 'quantitative', scale: null }, text: { field: 'label' } },
  });
  const labelX = left + pad + symbolW + 6;
  const frontierFill = g.multi ? '#ffffff' : COLORS.frontier;
  const frontierEdge = g.multi ? COLORS.frontierEdgeMulti : COLORS.frontierEdge;
  return { box, layers: [
    {
      name: 'legend_box',
      data: one,
      mark: { type: 'rect', fill: 'white', fillOpacity: 0.85, stroke: '#cccccc', strokeWidth: 1, cornerRadius: 3 },
      encoding: { x: { value: left }, x2: { value: left + w }, y: { value: top }, y2: { value: top + h } },
    },
    {
      name: 'legend_frontier_line',
      data: one,
      mark: { type: 'rule', color: COLORS.frontier, strokeWidth: 1.8, opacity: 0.9 },
      encoding: { x: { value: cx - symbolW / 2 }, x2: { value: cx + symbolW / 2 }, y: { value: frontierY }, y2: { value: frontierY } },
    },
    {
      name: 'legend_frontier_symbol',
      data: one,
      mark: { type: 'point', filled: true, color: frontierFill, stroke: frontierEdge, strokeWidth: 1.5, size: 100, opacity: 1 },
      encoding: { x: { value: cx }, y: { value: frontierY } },
    },
    {
      name: 'legend_other_symbol',
      data: one,
      mark: { type: 'point', filled: true, color: g.multi ? '#555555' : COLORS.other, opacity: 0.6, size: 30, strokeWidth: 0 },
      encoding: { x: { value: cx }, y: { value: otherY } },
    },
    ...(clusterShown.length ? [symbols('colour')] : []),
    ...(gbsShown.length ? [symbols('shape')] : []),
    {
      name: 'legend_labels',
      data: { values: rows.map((r, i) => ({ label: r.label, y: rowY(i), kind: r.kind })).filter((r) => r.kind !== 'header') },
      mark: { type: 'text', align: 'left', baseline: 'middle', fontSize, color: '#000000' },
      encoding: { x: { value: labelX }, y: { field: 'y', type: 'quantitative', scale: null }, text: { field: 'label' } },
    },
    text('legend_headers', 'header', true, left + pad),
  ] };
}

/** Compile a vega-lite spec to an SVG string (vega's headless renderer). */
export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise an SVG with exactly these font files (none → resvg draws no text: only for tests). */
export function rasterizeSvg(svg: string, fontFiles: readonly string[], widthPx = 1800): { png: Uint8Array; width: number; height: number; pixels: Uint8Array } {
  const img = new Resvg(svg, resvgOptions(fontFiles, widthPx)).render();
  return { png: new Uint8Array(img.asPng()), width: img.width, height: img.height, pixels: new Uint8Array(img.pixels) };
}

/**
 * Draw the chart. Resolves to undefined when no row is non-OOM (the caller prints
 * NO_VALID_PARETO_WARNING and writes nothing). A missing font file is a FasopError.
 */
export async function renderParetoChart(rows: readonly ParetoChartRow[], options: ParetoChartOptions): Promise<ParetoChart | undefined> {
  const fontFiles = options.fontFiles ?? DEFAULT_FONT_FILES;
  checkFontFiles(fontFiles);
  if (fontFiles.length === 0) {
    throw new FasopError('no font files given for the Pareto chart', 'pass the DejaVu font files (Debian/Ubuntu: apt-get install fonts-dejavu-core)');
  }
  const built = paretoChartSpec(rows, options.title, (t, s, bold) => measureTextWidth(t, s, fontFiles, bold), options.subtitle);
  if (!built) return undefined;
  const svg = await specToSvg(built.spec);
  const { png } = rasterizeSvg(svg, fontFiles, options.pngWidthPx ?? 1800);
  return { svg, png, validCount: built.validCount, frontierCount: built.frontierCount, title: options.title };
}

/** `X.png` → `X.svg` (any other name gets `.svg` appended). */
export function svgPathFor(pngPath: string): string {
  return pngPath.toLowerCase().endsWith('.png') ? `${pngPath.slice(0, -4)}.svg` : `${pngPath}.svg`;
}

/** Write `pngPath` and its `.svg` sibling, each through a temporary file and a rename. */
export function writeParetoChart(pngPath: string, chart: Pick<ParetoChart, 'svg' | 'png'>): { pngPath: string; svgPath: string } {
  const svgPath = svgPathFor(pngPath);
  writeAtomic(pngPath, chart.png);
  writeAtomic(svgPath, chart.svg);
  return { pngPath, svgPath };
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* not created */ }
    throw writeError(path, err);
  }
}
