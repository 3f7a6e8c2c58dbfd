import { readFileCapped } from '../guard/read.js';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packageRoot } from '../paths.js';

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
}

/** The page's folder: always the sources (tsc does not copy static files to dist/). */
export function staticDir(): string {
  return join(packageRoot(), 'src', 'web', 'static');
}

/** ECharts from this package's node_modules (never a CDN). */
export function echartsPath(): string {
  return createRequire(join(packageRoot(), 'package.json')).resolve('echarts/dist/echarts.min.js');
}

/**
 * Every URL path the server answers with a file: an exact-match table, so no request path is ever
 * joined to a folder (no traversal, encoded or not). Files are read once, at start.
 */
export function loadAssets(): Map<string, Asset> {
  const dir = staticDir();
  const files: [string, string, string][] = [
    ['/index.html', join(dir, 'index.html'), 'text/html; charset=utf-8'],
    ['/static/app.js', join(dir, 'app.js'), 'text/javascript; charset=utf-8'],
    ['/static/style.css', join(dir, 'style.css'), 'text/css; charset=utf-8'],
    ['/static/favicon.svg', join(dir, 'favicon.svg'), 'image/svg+xml'],
    ['/static/echarts.min.js', echartsPath(), 'text/javascript; charset=utf-8'],
  ];
  const map = new Map<string, Asset>();
  for (const [url, path, type] of files) {
    const body = readFileCapped(path, 16 * 1024 * 1024);
    map.set(url, { body, gzip: gzipSync(body), type });
  }
  map.set('/', map.get('/index.html')!);
  map.set('/favicon.ico', map.get('/static/favicon.svg')!);
  return map;
}
