import type { CliIo } from './io.js';
import type { SearchHooks } from './search.js';

/**
 * The chart side of `fasop search`: `--only-make-pareto` and `--make-pareto`. The chart modules
 * (vega, resvg) are loaded only when a chart is drawn, to keep the plain search's start-up fast.
 */
export const paretoHooks: SearchHooks = {
  async onlyMakePareto(io: CliIo, csvPath: string, title: string | undefined) {
    const { makeParetoFromCsv } = await import('./make-pareto.js');
    const r = await makeParetoFromCsv(csvPath, { paretoTitle: title });
    if (!r.written) io.out(r.warning);
    else io.out(`[PARETO] ${r.validCount} valid plans, ${r.frontierCount} on the frontier\n[PARETO] Pareto graph saved to: ${r.pngPath} (and ${r.svgPath})`);
  },
  async makePareto(io: CliIo, csvPath: string, title: string | undefined, modelType: string, png: string) {
    const { readResultsCsv } = await import('../report/csv-read.js');
    const chart = await import('../report/chart.js');
    const rows = readResultsCsv(csvPath);
    const rendered = await chart.renderParetoChart(rows, { title: chart.paretoChartTitle({ paretoTitle: title, modelType }), subtitle: chart.chartSubtitle(rows, { model: modelType }) });
    if (!rendered) {
      io.out(chart.NO_VALID_PARETO_WARNING);
      return;
    }
    const { pngPath, svgPath } = chart.writeParetoChart(png, rendered);
    io.out(`[PARETO] ${rendered.validCount} valid plans, ${rendered.frontierCount} on the frontier\n[PARETO] Pareto graph saved to: ${pngPath} (and ${svgPath})`);
  },
};
