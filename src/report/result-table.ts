/**
 * Every result of a search, kept compactly for the ranked CSV and the summary: a few typed-array
 * columns per record, with what records repeat (node lists, degrees, executions, cost sources, the
 * partitions and their layers) kept once. A record read back equals the one added, field for
 * field; one that the columns cannot hold exactly (a value they would derive differently, a list
 * that is not whole numbers) is kept as it came.
 */
import type { PlanRecord } from '../search/record.js';
import type { PlanExtras, RankOrder } from './plan-extras.js';

type Where = Pick<PlanRecord, 'node_type' | 'gpu_cluster_str' | 'placement'>;
type What = Pick<PlanRecord, 'gbs' | 'mbs' | 'tp' | 'dp' | 'pp' | 'iterations' | 'estimator' | 'partition_method' | 'seq_length'>;
type How = Pick<PlanRecord, 'cp' | 'recompute' | 'recompute_layers' | 'dp_sharding' | 'shard_group' | 'sequence_parallel' | 'virtual_stages'>;

/** Distinct values of one kind, each with its number. */
class Interned<T> {
  private readonly ids = new Map<string, number>();
  readonly values: T[] = [];
  id(key: string, value: T): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(key, id);
      this.values.push(value);
    }
    return id;
  }
}

const F_OOM = 1;
const F_ROUNDED = 2;
const F_LAYERS = 4; // partition_layers given
const F_PER_STAGE = 8; // extras' layersPerStage given (when partition_layers is not)
const F_EXTRAS = 16;

/** Whole numbers a 32-bit column holds exactly. */
const int32s = (xs: readonly number[]) => xs.every((x) => (x | 0) === x && !Object.is(x, -0));

export class ResultTable {
  private n = 0;
  private cap = 0;
  private where = new Int32Array(0);
  private what = new Int32Array(0);
  private how = new Int32Array(0);
  private source = new Int32Array(0);
  private tightest = new Int32Array(0);
  private flags = new Uint8Array(0);
  /** the record's first list value in `lists` (partition, then partition_layers or layersPerStage) */
  private at = new Float64Array(0);
  private step = new Float64Array(0);
  private price = new Float64Array(0);
  private oomGpumem = new Float64Array(0);
  private mfu = new Float64Array(0);
  private tokens = new Float64Array(0);
  private peak = new Float64Array(0);
  private limit = new Float64Array(0);
  private lists = new Int32Array(1024);
  private listsUsed = 0;
  /** each distinct block of lists (a record's partition and its layers) once: its hash -> the offsets of the blocks kept with it */
  private readonly blocks = new Map<number, number[]>();
  private readonly block: number[] = [];
  private readonly wheres = new Interned<Where>();
  private readonly whats = new Interned<What>();
  private readonly hows = new Interned<How>();
  private readonly sources = new Interned<string>();
  /** records (and their extras) that the columns could not hold exactly, by index */
  private readonly kept = new Map<number, { record: PlanRecord; extras: PlanExtras | undefined }>();
  private fitting = 0;

  get length(): number {
    return this.n;
  }

  /** List values kept (each distinct partition block once), for the tests and benchmarks. */
  get listValues(): number {
    return this.listsUsed;
  }

  /** Records that fit in memory. */
  get fits(): number {
    return this.fitting;
  }

  private grow(): void {
    const cap = Math.max(1024, this.cap * 2);
    const more = <A extends Int32Array | Float64Array | Uint8Array>(a: A): A => {
      const b = new (a.constructor as new (n: number) => A)(cap);
      b.set(a);
      return b;
    };
    this.where = more(this.where);
    this.what = more(this.what);
    this.how = more(this.how);
    this.source = more(this.source);
    this.tightest = more(this.tightest);
    this.flags = more(this.flags);
    this.at = more(this.at);
    this.step = more(this.step);
    this.price = more(this.price);
    this.oomGpumem = more(this.oomGpumem);
    this.mfu = more(this.mfu);
    this.tokens = more(this.tokens);
    this.peak = more(this.peak);
    this.limit = more(this.limit);
    this.cap = cap;
  }

  /** The offset of this block of list values in `lists`: an equal block kept before (records share partitions), else appended. */
  private internBlock(xs: readonly number[]): number {
    let h = (0x811c9dc5 ^ xs.length) >>> 0;
    for (let i = 0; i < xs.length; i++) h = Math.imul(h ^ xs[i]!, 16777619) >>> 0;
    const at = this.blocks.get(h);
    if (at) {
      for (const o of at) {
        // values past the end would be overwritten by the next block (an equal hash of another length)
        if (o + xs.length > this.listsUsed) continue;
        let k = 0;
        while (k < xs.length && this.lists[o + k] === xs[k]) k += 1;
        if (k === xs.length) return o;
      }
    }
    if (this.listsUsed + xs.length > this.lists.length) {
      const b = new Int32Array(Math.max(2 * this.lists.length, this.listsUsed + xs.length));
      b.set(this.lists.subarray(0, this.listsUsed));
      this.lists = b;
    }
    const o = this.listsUsed;
    for (let i = 0; i < xs.length; i++) this.lists[this.listsUsed++] = xs[i]!;
    if (at) at.push(o);
    else this.blocks.set(h, [o]);
    return o;
  }

  /** Whether the columns give back exactly this record and extras. */
  private static fitsColumns(r: PlanRecord, x: PlanExtras | undefined): boolean {
    const m = r.pp;
    return r.partition.length === m && Object.is(r.throughput, r.step_time > 0 ? r.gbs / r.step_time : 0)
      && Object.is(r.total_time_seconds, r.step_time * r.iterations)
      && Object.is(r.total_time_hours, (r.step_time * r.iterations) / 3600)
      && Object.is(r.cost, r.price_per_step * r.iterations)
      && Number.isInteger(r.gbs) && Number.isInteger(r.iterations)
      && int32s(r.partition) && (r.partition_layers === null || (r.partition_layers.length === m && int32s(r.partition_layers)))
      && (x === undefined || (x.gpus === r.tp * r.cp * r.dp * r.pp
        && (r.partition_layers !== null ? x.layersPerStage === r.partition_layers : x.layersPerStage === null || (x.layersPerStage.length === m && int32s(x.layersPerStage)))
        && (x.tightestStage | 0) === x.tightestStage));
  }

  /** The last where kept, by its lists and cluster: records of one placement come one after another with the same ones. */
  private lastWhere: { node_type: string[]; placement: string[]; gpu_cluster_str: string; id: number } | undefined;

  private whereOf(r: PlanRecord): number {
    const w = this.lastWhere;
    if (w && w.node_type === r.node_type && w.placement === r.placement && w.gpu_cluster_str === r.gpu_cluster_str) return w.id;
    const id = this.wheres.id(`${r.gpu_cluster_str}\u0000${r.node_type.join('\u0001')}\u0000${r.placement.join('\u0001')}`, { node_type: r.node_type, gpu_cluster_str: r.gpu_cluster_str, placement: r.placement });
    this.lastWhere = { node_type: r.node_type, placement: r.placement, gpu_cluster_str: r.gpu_cluster_str, id };
    return id;
  }

  /** Keep one record (and the extras the reports show with it). */
  add(r: PlanRecord, x?: PlanExtras): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    if (!r.is_oom) this.fitting += 1;
    if (!ResultTable.fitsColumns(r, x)) {
      this.kept.set(i, { record: r, extras: x });
      return;
    }
    this.where[i] = this.whereOf(r);
    this.what[i] = this.whats.id(`${r.gbs} ${r.mbs} ${r.tp} ${r.dp} ${r.pp} ${r.iterations} ${r.seq_length} ${r.estimator}\u0000${r.partition_method}`,
      { gbs: r.gbs, mbs: r.mbs, tp: r.tp, dp: r.dp, pp: r.pp, iterations: r.iterations, estimator: r.estimator, partition_method: r.partition_method, seq_length: r.seq_length });
    this.how[i] = this.hows.id(`${r.cp} ${r.recompute} ${r.recompute_layers} ${r.dp_sharding} ${r.shard_group} ${r.sequence_parallel} ${r.virtual_stages}`,
      { cp: r.cp, recompute: r.recompute, recompute_layers: r.recompute_layers, dp_sharding: r.dp_sharding, shard_group: r.shard_group, sequence_parallel: r.sequence_parallel, virtual_stages: r.virtual_stages });
    this.source[i] = this.sources.id(r.cost_source, r.cost_source);
    this.step[i] = r.step_time;
    this.price[i] = r.price_per_step;
    this.oomGpumem[i] = r.oom_gpumem;
    this.mfu[i] = r.mfu;
    this.tokens[i] = r.tokens_per_s_per_gpu;
    // the partition, then partition_layers or the extras' layers per stage: one block
    const block = this.block;
    block.length = 0;
    for (const v of r.partition) block.push(v);
    let f = r.is_oom ? F_OOM : 0;
    if (r.partition_layers) {
      f |= F_LAYERS;
      for (const v of r.partition_layers) block.push(v);
    }
    if (x) {
      f |= F_EXTRAS;
      if (x.layersRounded) f |= F_ROUNDED;
      if (!r.partition_layers && x.layersPerStage) {
        f |= F_PER_STAGE;
        for (const v of x.layersPerStage) block.push(v);
      }
      this.peak[i] = x.peakMemory_GiB;
      this.limit[i] = x.memoryLimit_GiB;
      this.tightest[i] = x.tightestStage;
    }
    this.at[i] = this.internBlock(block);
    this.flags[i] = f;
  }

  isOom(i: number): boolean {
    const k = this.kept.get(i);
    return k ? k.record.is_oom : (this.flags[i]! & F_OOM) !== 0;
  }

  totalTime_s(i: number): number {
    const k = this.kept.get(i);
    return k ? k.record.total_time_seconds : this.step[i]! * this.whats.values[this.what[i]!]!.iterations;
  }

  private list(from: number, m: number): number[] {
    return Array.from(this.lists.subarray(from, from + m));
  }

  /** Record i as it was added. */
  record(i: number): PlanRecord {
    const k = this.kept.get(i);
    if (k) return k.record;
    const w = this.wheres.values[this.where[i]!]!;
    const s = this.whats.values[this.what[i]!]!;
    const h = this.hows.values[this.how[i]!]!;
    const f = this.flags[i]!;
    const m = s.pp;
    const at = this.at[i]!;
    const step = this.step[i]!;
    const price = this.price[i]!;
    return {
      gbs: s.gbs, mbs: s.mbs, tp: s.tp, dp: s.dp, pp: s.pp,
      node_type: w.node_type, gpu_cluster_str: w.gpu_cluster_str,
      partition: this.list(at, m),
      partition_layers: f & F_LAYERS ? this.list(at + m, m) : null,
      step_time: step,
      throughput: step > 0 ? s.gbs / step : 0,
      price_per_step: price,
      is_oom: (f & F_OOM) !== 0,
      oom_gpumem: this.oomGpumem[i]!,
      iterations: s.iterations,
      total_time_seconds: step * s.iterations,
      total_time_hours: (step * s.iterations) / 3600,
      cost: price * s.iterations,
      placement: w.placement,
      estimator: s.estimator,
      partition_method: s.partition_method,
      cost_source: this.sources.values[this.source[i]!]!,
      cp: h.cp, recompute: h.recompute, recompute_layers: h.recompute_layers, dp_sharding: h.dp_sharding,
      shard_group: h.shard_group, sequence_parallel: h.sequence_parallel, virtual_stages: h.virtual_stages,
      mfu: this.mfu[i]!,
      tokens_per_s_per_gpu: this.tokens[i]!,
      seq_length: s.seq_length,
    };
  }

  /** The extras added with record i (undefined: none were). */
  extras(i: number, record = this.record(i)): PlanExtras | undefined {
    const k = this.kept.get(i);
    if (k) return k.extras;
    const f = this.flags[i]!;
    if (!(f & F_EXTRAS)) return undefined;
    const m = record.pp;
    return {
      gpus: record.tp * record.cp * record.dp * record.pp,
      peakMemory_GiB: this.peak[i]!,
      memoryLimit_GiB: this.limit[i]!,
      tightestStage: this.tightest[i]!,
      layersPerStage: record.partition_layers ?? (f & F_PER_STAGE ? this.list(this.at[i]! + m, m) : null),
      layersRounded: (f & F_ROUNDED) !== 0,
    };
  }

  /**
   * The ranking of rankRecords (csv.ts) without a record object per row: positions in ranked order
   * and each one's rank.
   */
  ranked(order: RankOrder = 'time'): { order: Uint32Array; rank: Uint32Array } {
    const n = this.n;
    const oom = new Uint8Array(n);
    const total = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      oom[i] = order === 'fits-first' && this.isOom(i) ? 1 : 0;
      total[i] = this.totalTime_s(i);
    }
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => oom[a]! - oom[b]! || total[a]! - total[b]! || a - b);
    const rank = new Uint32Array(n);
    let prev = -1;
    for (let p = 0; p < n; p++) {
      const i = idx[p]!;
      const q = p > 0 ? idx[p - 1]! : -1;
      // ties as rankRecords' text keys see them: the same fit and the same printed total (NaN equals NaN)
      const same = q >= 0 && oom[q] === oom[i] && (total[q] === total[i] || (Number.isNaN(total[q]) && Number.isNaN(total[i])));
      if (!same) prev = p + 1;
      rank[p] = prev;
    }
    return { order: idx, rank };
  }
}
