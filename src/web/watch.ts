import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Run } from './channel.js';
import { wirePlan, type WirePlan } from './wire.js';

const TAIL_BYTES = 512;
/** Longest JSONL line kept (a record of a 100000-node cluster fits); a longer one is skipped with a warning. */
export const MAX_JSONL_LINE_BYTES = 8 * 1024 * 1024;
/** Most bytes read per poll. */
const POLL_READ_BYTES = 16 * 1024 * 1024;

/** Python's json.dumps writes NaN/Infinity for non-finite floats; JSON.parse does not take them. */
export function parseJsonlLine(line: string): Record<string, unknown> | undefined {
  const text = line.trim();
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    try {
      value = JSON.parse(text.replace(/(?<=[:[,]\s*)-?(?:NaN|Infinity)(?=\s*[,\]}])/g, 'null'));
    } catch {
      return undefined;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * `fasop serve --watch FILE.jsonl`: follows a JSONL file written by `fasop search --parsing` (or by
 * the original FASOP) from another terminal, as one Run per pass over the file. When the file is
 * truncated or replaced (a new search), the pages start over with the new run.
 */
export class JsonlFollower {
  current: Run;
  private nextId = 1;
  private offset = 0;
  private ino: number | undefined;
  private pending: Buffer = Buffer.alloc(0);
  /** the last bytes read: if they change, the file was rewritten (even when it grew past our offset) */
  private tail: Buffer = Buffer.alloc(0);
  private paretoTotal = false;
  private metaTotal = 0;
  private complete = false;
  private badLines = 0;
  /** inside a line longer than MAX_JSONL_LINE_BYTES: skip to its end */
  private skipping = false;
  /** the last problem with the file itself, warned once until it changes */
  private fileProblem: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly file: string, private readonly pollMs = 200) {
    this.current = this.newRun();
  }

  start(): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.current.closeClients();
  }

  private newRun(): Run {
    this.offset = 0;
    this.pending = Buffer.alloc(0);
    this.tail = Buffer.alloc(0);
    this.paretoTotal = false;
    this.metaTotal = 0;
    this.complete = false;
    this.badLines = 0;
    this.skipping = false;
    return new Run(this.nextId++, 'watch', { file: this.file, file_name: basename(this.file) });
  }

  private reset(): void {
    const next = this.newRun();
    this.current.moveClientsTo(next);
    this.current = next;
  }

  /** Read what was appended since the last poll; a file that cannot be read is a warning on the page, never a crash. */
  poll(): void {
    try {
      this.pollOnce();
    } catch (err) {
      this.warnFile(`cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private warnFile(problem: string): void {
    if (this.fileProblem === problem) return;
    this.fileProblem = problem;
    this.current.push('warning', { run: this.current.id, message: problem });
  }

  private pollOnce(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch {
      if (this.current.done > 0 || this.offset > 0) this.reset();
      this.ino = undefined;
      return;
    }
    if (!st.isFile()) {
      this.warnFile(`${this.file} is not a regular file (a folder, FIFO or device): nothing to follow`);
      return;
    }
    // non-blocking, and checked again on the open descriptor: a FIFO swapped in cannot hang the server
    const fd = openSync(this.file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) {
        this.warnFile(`${this.file} is not a regular file: nothing to follow`);
        return;
      }
      this.fileProblem = undefined;
      if ((this.ino !== undefined && st.ino !== this.ino) || st.size < this.offset || !this.sameTail(fd)) this.reset();
      this.ino = st.ino;
      if (st.size === this.offset) return;
      const chunk = Buffer.alloc(Math.min(st.size - this.offset, POLL_READ_BYTES));
      const n = readSync(fd, chunk, 0, chunk.length, this.offset);
      this.offset += n;
      const got = chunk.subarray(0, n);
      this.tail = Buffer.from(got.length >= TAIL_BYTES ? got.subarray(got.length - TAIL_BYTES) : Buffer.concat([this.tail, got]).subarray(-TAIL_BYTES));
      this.consume(got);
    } finally {
      closeSync(fd);
    }
  }

  private sameTail(fd: number): boolean {
    if (this.tail.length === 0) return true;
    const now = Buffer.alloc(this.tail.length);
    const n = readSync(fd, now, 0, now.length, this.offset - this.tail.length);
    return n === now.length && now.equals(this.tail);
  }

  private consume(bytes: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, bytes]) : bytes;
    const plans: WirePlan[] = [];
    const run = this.current;
    const tooLong = () => run.push('warning', { run: run.id, message: `skipping a line longer than ${MAX_JSONL_LINE_BYTES} bytes in ${this.file}` });
    if (this.skipping) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        this.pending = Buffer.alloc(0);
        return;
      }
      this.skipping = false;
      buf = buf.subarray(nl + 1);
    }
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
      if (nl > MAX_JSONL_LINE_BYTES) {
        tooLong();
        buf = buf.subarray(nl + 1);
        continue;
      }
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      if (!line.trim()) continue;
      const obj = parseJsonlLine(line);
      if (!obj) {
        this.badLines += 1;
        if (this.badLines === 1) run.push('warning', { run: run.id, message: `skipping a line that is not JSON in ${this.file}` });
        continue;
      }
      if (obj['type'] === 'pareto_meta') {
        run.addResults(plans.splice(0));
        this.paretoTotal = true;
        run.push('meta', { run: run.id, model_type: obj['model_type'], gpu_cluster: obj['gpu_cluster'], gbs_values: obj['gbs_values'] });
        if (typeof obj['pareto_total_count'] === 'number') run.setTotal(obj['pareto_total_count']);
      } else if (obj['type'] === 'meta') {
        run.addResults(plans.splice(0));
        run.push('meta', { run: run.id, gbs: obj['gbs'], cluster: obj['cluster'], count: obj['total_count'] });
        if (!this.paretoTotal && typeof obj['total_count'] === 'number') {
          this.metaTotal += obj['total_count'];
          run.setTotal(this.metaTotal);
        }
      } else if (obj['type'] === undefined && ('throughput' in obj || 'cost' in obj)) {
        plans.push(wirePlan(typeof obj['index'] === 'number' ? obj['index'] : run.done + plans.length + 1, obj));
      }
    }
    if (buf.length > MAX_JSONL_LINE_BYTES) {
      tooLong();
      this.skipping = true;
      buf = Buffer.alloc(0);
    }
    this.pending = Buffer.from(buf);
    run.addResults(plans);
    if (!this.complete && run.total > 0 && run.done >= run.total) {
      this.complete = true;
      run.push('complete', { run: run.id, ...run.progress(), elapsed_s: run.elapsedS() });
    }
  }
}
