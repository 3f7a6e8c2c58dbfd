import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { FasopError } from '../errors.js';
import { NO_VALID_PARETO_WARNING, chartSubtitle, paretoChartTitle, renderParetoChart, writeParetoChart } from '../report/chart.js';
import { readResultsCsv } from '../report/csv-read.js';

/**
 * `--only-make-pareto CSV [--pareto-title T]` (SPEC §1.4 step 1): draw the Pareto chart of an
 * existing results CSV and write it next to the CSV. Needs no `--gpus`.
 *
 * - with a title T: `dirname(CSV)/T.png` (+ `.svg`), chart title `T pareto frontier analysis`;
 * - without: the CSV path with its last extension replaced by `.png` (+ `.svg`), chart title
 *   `Pareto frontier analysis`.
 *
 * When no row is non-OOM nothing is written and the result has `written: false` and the original's
 * warning line in `warning`; the CLI prints it (to stdout, like the original) and exits 0.
 */
export interface MakeParetoOptions {
  paretoTitle?: string | undefined;
  /** font files for the PNG; default the DejaVu files (chart.ts DEFAULT_FONT_FILES) */
  fontFiles?: readonly string[];
}

export type MakeParetoResult =
  | {
      written: true;
      pngPath: string;
      svgPath: string;
      title: string;
      /** rows in the CSV */
      rowCount: number;
      /** non-OOM rows drawn */
      validCount: number;
      frontierCount: number;
    }
  | {
      written: false;
      /** NO_VALID_PARETO_WARNING */
      warning: string;
      title: string;
      rowCount: number;
      validCount: 0;
      frontierCount: 0;
    };

/** The PNG path the original writes for `--only-make-pareto CSV [--pareto-title T]`. */
export function paretoPngPathForCsv(csvPath: string, paretoTitle?: string): string {
  if (paretoTitle !== undefined && paretoTitle !== '') return join(dirname(csvPath), `${paretoTitle}.png`);
  const ext = extname(csvPath);
  return `${ext ? csvPath.slice(0, -ext.length) : csvPath}.png`;
}

export async function makeParetoFromCsv(csvPath: string, options: MakeParetoOptions = {}): Promise<MakeParetoResult> {
  const { paretoTitle } = options;
  if (paretoTitle !== undefined && /[/\\\0]/.test(paretoTitle)) {
    throw new FasopError(`--pareto-title ${JSON.stringify(paretoTitle)} contains a path separator`, 'give a plain name; the chart is written next to the CSV as NAME.png');
  }
  if (!existsSync(csvPath)) {
    throw new FasopError(`CSV file not found: ${csvPath}`, 'pass the path of a results CSV written by a search (main_logs/*.csv)');
  }
  const rows = readResultsCsv(csvPath);
  const title = paretoChartTitle({ paretoTitle });
  const chart = await renderParetoChart(rows, { title, subtitle: chartSubtitle(rows), ...(options.fontFiles ? { fontFiles: options.fontFiles } : {}) });
  if (!chart) {
    return { written: false, warning: NO_VALID_PARETO_WARNING, title, rowCount: rows.length, validCount: 0, frontierCount: 0 };
  }
  const pngPath = paretoPngPathForCsv(csvPath, paretoTitle);
  const { svgPath } = writeParetoChart(pngPath, chart);
  return {
    written: true,
    pngPath,
    svgPath,
    title,
    rowCount: rows.length,
    validCount: chart.validCount,
    frontierCount: chart.frontierCount,
  };
}
