// The step-time floor the search skips executions by (estimate.ts stepFloorOf, time-bound.ts): never
// above the estimated step of any execution it is asked about, and close enough below it to skip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { executionLabel } from '../src/estimate/execution.js';
import { getEstimator, type Estimator } from '../src/estimate/index.js';
import { dominance } from '../src/estimate/estimate.js';
import { stepTimeFloor_s } from '../src/estimate/time-bound.js';
import { FASOP } from '../src/estimate/policy.js';
import { ProfileDb } from '../src/profiles/db.js';
import { searchEvents } from '../src/search/search.js';

// minMedian: how close below the step the floor stays at the median (FSDP's gathers are not in it)
const CASES: { name: string; gpus: string[]; args: string[]; minMedian: number }[] = [
  { name: 'llama70b on H100 + H200 nodes (mixed stages, virtual stages, recompute)', gpus: ['H100', '4', 'H200', '4'], args: ['--gbs', '64'], minMedian: 0.9 },
  { name: 'llama8b at seq 4096, cp 1 and 2', gpus: ['H200', '2'], args: ['--model-type', 'llama8b', '--seq-length', '4096', '--gbs', '32', '--cp', '1,2'], minMedian: 0.9 },
  { name: 'llama8b under the PyTorch recipe (FSDP and HSDP with pp, op recompute)', gpus: ['H100', '2', 'H200', '2'], args: ['--model-type', 'llama8b', '--gbs', '64', '--optimizer', 'fp32-master-adamw', '--recompute', 'none,op,full'], minMedian: 0.75 },
];

for (const c of CASES) {
  test(`the step floor is at most every estimated step: ${c.name}`, async () => {
    const raw = addSearchOptions(new Command('search')).exitOverride().parse(c.args, { from: 'user' }).opts() as RawSearchOptions;
    const r = resolveSearchOptions(raw, c.gpus);
    const base = getEstimator(r.request.estimator);
    assert.ok(base.stepFloor_s && base.timing);
    const ratios: number[] = [];
    const estimator: Estimator = Object.assign((p: Parameters<Estimator>[0]) => base(p), base);
    estimator.timing = async (plan) => {
      const t = await base.timing!(plan);
      if (t.timed && !t.isOom) {
        const floor = await base.stepFloor_s!(plan);
        const generic = stepTimeFloor_s(plan, FASOP);
        const what = `${executionLabel(plan.execution!)} tp ${plan.tp} dp ${plan.dp} pp ${plan.pp} mbs ${plan.mbs}`;
        assert.ok(floor <= t.stepTime_s * (1 + 1e-12), `floor ${floor} above step ${t.stepTime_s}: ${what}`);
        assert.ok(generic <= floor * (1 + 1e-12), `the partition floor is below the generic one: ${what}`);
        ratios.push(floor / t.stepTime_s);
      }
      return t;
    };
    for await (const _ of searchEvents(r.request, { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator })) { /* drain */ }
    assert.ok(ratios.length > 100, `${ratios.length} executions checked`);
    const median = ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
    assert.ok(median > c.minMedian, `median floor / step ${median.toFixed(3)}`);
  });
}

// chooseExecution skips an execution whose pipeline inputs are at least a fitting one's (estimate.ts dominanceFloorsOf)
for (const c of CASES.slice(0, 2)) {
  test(`the dominance floor from another timed execution is at most the estimated step: ${c.name}`, async (t) => {
    const raw = addSearchOptions(new Command('search')).exitOverride().parse(c.args, { from: 'user' }).opts() as RawSearchOptions;
    const r = resolveSearchOptions(raw, c.gpus);
    const base = getEstimator(r.request.estimator);
    assert.ok(base.dominanceFloors_s && base.timing);
    // short pipelines too (the search times them rather than compare)
    const minCells = dominance.minCells;
    dominance.minCells = 0;
    t.after(() => { dominance.minCells = minCells; });
    // every timed execution that fits, by strategy and placement
    const byStrategy = new Map<string, Array<{ plan: Parameters<Estimator>[0]; step_s: number; run: NonNullable<Awaited<ReturnType<NonNullable<Estimator['timing']>>>['pipeline']> }>>();
    // without the step floors, every execution that may fit is timed
    const estimator: Estimator = Object.assign((p: Parameters<Estimator>[0]) => base(p), base, { stepFloor_s: undefined, dominanceFloors_s: undefined });
    estimator.timing = async (plan) => {
      const t = await base.timing!(plan);
      if (t.timed && !t.isOom) {
        assert.ok(t.pipeline, 'a timed execution carries its pipeline run');
        const k = `${plan.tp} ${plan.dp} ${plan.pp} ${plan.mbs} ${plan.nodes.map((n) => n.gpu.name).join(',')}`;
        byStrategy.set(k, [...(byStrategy.get(k) ?? []), { plan, step_s: t.stepTime_s, run: t.pipeline }]);
      }
      return t;
    };
    for await (const _ of searchEvents(r.request, { catalog: r.catalog, profiles: ProfileDb.open(r.profileDir), estimator })) { /* drain */ }
    let compared = 0;
    let atLeast = 0;
    for (const list of byStrategy.values()) {
      for (const x of list) {
        const floors = await base.dominanceFloors_s!(x.plan, list.map((y) => y.run));
        floors.forEach((f, i) => {
          if (f === undefined) return;
          compared += 1;
          const what = `${executionLabel(x.plan.execution!)} against ${executionLabel(list[i]!.plan.execution!)}, tp ${x.plan.tp} dp ${x.plan.dp} pp ${x.plan.pp} mbs ${x.plan.mbs}`;
          assert.ok(f <= x.step_s * (1 + 1e-12), `floor ${f} above step ${x.step_s}: ${what}`);
          if (x.plan.execution!.recompute === 'selective' && list[i]!.plan.execution!.recompute === 'none' && f >= list[i]!.step_s) atLeast += 1;
        });
      }
    }
    assert.ok(compared > 2000, `${compared} pairs compared`);
    // selective recompute beside its sibling without it: the floor shows it no faster, so it is not timed
    assert.ok(atLeast > 200, `${atLeast} selective executions shown no faster than none`);
  });
}
