/**
 * How far V8 lets the JavaScript heap grow past what survived a collection. A search keeps little
 * alive but allocates fast, and V8's default factor (up to 4×) let the Pareto sweep over H100 20 +
 * H200 20 reach 1.36 GiB RSS on two threads; at 2× it peaked at 851–921 MiB in the same time
 * (docs/benchmarks.md). Process-wide (every thread's heap): the `fasop` command sets it at start.
 */
import { setFlagsFromString } from 'node:v8';

export function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=100');
}
