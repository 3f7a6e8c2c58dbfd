/**
 * Results of a search thread packed for the calling thread (parallel.ts, with slim estimates): every
 * number in one Float64Array that is transferred, not cloned; strings and lists by id into tables
 * that each side builds in the same order (a list or string goes over once). The calling thread
 * reads every result: a structured clone took it 46–59 µs each, a packed one 11–24 µs (docs/benchmarks.md).
 */
import type { Estimate, StageBreakdown } from '../estimate/plan.js';
import type { PlanRecord, OomRecord } from './record.js';
import { sharedNumberList, sharedString, sharedStringList } from './intern.js';

/** One result as a thread sends it: its record and an estimate whose stages keep only their memory and limit. */
export type ShardItem = { index: number; record: PlanRecord; estimate: Estimate } | { index: number; oom: OomRecord };

/** A batch of packed results (postMessage it with `f64.buffer` in the transfer list). */
export interface PackedResults {
  f64: Float64Array;
  /** strings and lists new to the tables, in id order; `reset`: both tables start again before them */
  strings: string[];
  lists: Array<string[] | number[]>;
  reset: boolean;
  /** out-of-memory items, whole, in their order in the stream */
  ooms: OomRecord[];
}

/** Distinct strings or lists a table keeps, by default, before both sides start it again. */
const TABLE_LIMIT = 1 << 16;
const RESULT = 0;
const OOM = 1;
const NULL = NaN;

const orNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

/** The sending side: add items in index order, take() a batch to post. */
export class ResultPacker {
  private f64 = new Float64Array(4096);
  private n = 0;
  private stringIds = new Map<string, number>();
  /** by the list object: a thread's records already share each distinct list (compactRecord) */
  private listIds = new Map<readonly unknown[], number>();
  private strings: string[] = [];
  private lists: Array<string[] | number[]> = [];
  private ooms: OomRecord[] = [];
  private reset = false;

  /** @param tableLimit distinct strings or lists kept before both tables start again */
  constructor(private readonly tableLimit = TABLE_LIMIT) {}

  private put(x: number): void {
    if (this.n === this.f64.length) {
      const grown = new Float64Array(this.f64.length * 2);
      grown.set(this.f64);
      this.f64 = grown;
    }
    this.f64[this.n++] = x;
  }

  private roomFor(): void {
    if (this.stringIds.size < this.tableLimit && this.listIds.size < this.tableLimit) return;
    this.stringIds.clear();
    this.listIds.clear();
    this.strings = [];
    this.lists = [];
    this.reset = true;
  }

  private string(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      this.stringIds.set(s, (id = this.stringIds.size));
      this.strings.push(s);
    }
    return id;
  }

  private list(xs: string[] | number[] | null): number {
    if (xs === null) return NULL;
    let id = this.listIds.get(xs);
    if (id === undefined) {
      this.listIds.set(xs, (id = this.listIds.size));
      this.lists.push(xs);
    }
    return id;
  }

  add(item: ShardItem): void {
    // the tables start again only between batches: a batch's ids all refer to one table
    if (this.n === 0) this.roomFor();
    if ('oom' in item) {
      this.put(OOM);
      this.put(item.index);
      this.ooms.push(item.oom);
      return;
    }
    const r = item.record;
    const e = item.estimate;
    this.put(RESULT);
    this.put(item.index);
    for (const x of [r.gbs, r.mbs, r.tp, r.dp, r.pp]) this.put(x);
    this.put(this.list(r.node_type));
    this.put(this.string(r.gpu_cluster_str));
    this.put(this.list(r.partition));
    this.put(this.list(r.partition_layers));
    for (const x of [r.step_time, r.throughput, r.price_per_step, r.is_oom ? 1 : 0, r.oom_gpumem, r.iterations, r.total_time_seconds, r.total_time_hours, r.cost]) this.put(x);
    this.put(this.list(r.placement));
    for (const s of [r.estimator, r.partition_method, r.cost_source]) this.put(this.string(s));
    this.put(r.cp);
    this.put(this.string(r.recompute));
    this.put(r.recompute_layers ?? NULL);
    this.put(this.string(r.dp_sharding));
    this.put(r.shard_group ?? NULL);
    this.put(r.sequence_parallel ? 1 : 0);
    for (const x of [r.virtual_stages, r.mfu, r.tokens_per_s_per_gpu, r.seq_length ?? NULL]) this.put(x);
    const b = e.breakdown;
    for (const x of [b.microBatches, b.pipeline_s, b.embeddingSync_s, b.stages.length]) this.put(x);
    for (const s of b.stages) {
      this.put(s.memory_GiB);
      this.put(s.memoryLimit_GiB);
    }
  }

  /** The batch so far (undefined when empty); the next batch starts empty. */
  take(): PackedResults | undefined {
    if (this.n === 0) return undefined;
    const out: PackedResults = { f64: this.f64.slice(0, this.n), strings: this.strings, lists: this.lists, reset: this.reset, ooms: this.ooms };
    this.n = 0;
    this.strings = [];
    this.lists = [];
    this.ooms = [];
    this.reset = false;
    return out;
  }
}

/** The receiving side, one per sending thread: the items of each batch, in order. */
export class ResultUnpacker {
  private strings: string[] = [];
  private lists: Array<string[] | number[]> = [];

  unpack(p: PackedResults, out: ShardItem[]): void {
    if (p.reset) {
      this.strings = [];
      this.lists = [];
    }
    for (const s of p.strings) this.strings.push(sharedString(s));
    for (const l of p.lists) this.lists.push(typeof l[0] === 'number' ? sharedNumberList(l as number[]) : sharedStringList(l as string[]));
    const f = p.f64;
    let i = 0;
    const num = () => f[i++]!;
    const str = () => this.strings[f[i++]!]!;
    const list = <T>() => {
      const id = f[i++]!;
      return (Number.isNaN(id) ? null : this.lists[id]) as T;
    };
    let oom = 0;
    while (i < f.length) {
      const tag = num();
      const index = num();
      if (tag === OOM) {
        out.push({ index, oom: p.ooms[oom++]! });
        continue;
      }
      // the fields in the order add() put them, which is toRecord's
      const record: PlanRecord = {
        gbs: num(), mbs: num(), tp: num(), dp: num(), pp: num(),
        node_type: list<string[]>(), gpu_cluster_str: str(), partition: list<number[]>(), partition_layers: list<number[] | null>(),
        step_time: num(), throughput: num(), price_per_step: num(), is_oom: num() === 1, oom_gpumem: num(), iterations: num(),
        total_time_seconds: num(), total_time_hours: num(), cost: num(),
        placement: list<string[]>(), estimator: str(), partition_method: str(), cost_source: str(),
        cp: num(), recompute: str(), recompute_layers: orNull(num()), dp_sharding: str(), shard_group: orNull(num()),
        sequence_parallel: num() === 1, virtual_stages: num(), mfu: num(), tokens_per_s_per_gpu: num(), seq_length: orNull(num()),
      };
      const microBatches = num();
      const pipeline_s = num();
      const embeddingSync_s = num();
      const stages = new Array<StageBreakdown>(num());
      for (let s = 0; s < stages.length; s++) stages[s] = { memory_GiB: num(), memoryLimit_GiB: num() } as StageBreakdown;
      const estimate = {
        partition: record.partition,
        partitionLayers: record.partition_layers,
        stepTime_s: record.step_time,
        throughput: record.throughput,
        pricePerStep_usd: record.price_per_step,
        isOom: record.is_oom,
        oomGpumem_GiB: record.oom_gpumem,
        iterations: record.iterations,
        totalTime_s: record.total_time_seconds,
        totalTime_h: record.total_time_hours,
        cost_usd: record.cost,
        mfu: record.mfu,
        tokensPerSecondPerGpu: record.tokens_per_s_per_gpu,
        breakdown: { microBatches, stages, pipeline_s, embeddingSync_s, costSource: record.cost_source },
      } as Estimate;
      out.push({ index, record, estimate });
    }
  }
}
