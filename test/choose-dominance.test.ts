// chooseExecution's dominance skip (an execution whose floor from an earlier fitting one is at least that
// one's step is not timed) against timing every execution, including where the floor holds only to rounding.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addSearchOptions, resolveSearchOptions, type RawSearchOptions } from '../src/cli/search-options.js';
import { getEstimator, type Estimator, type PipelineRun, type Timing } from '../src/estimate/index.js';
import type { Estimate, ResolvedPlan } from '../src/estimate/plan.js';
import { checkedPlacements } from '../src/plan/resolve.js';
import { ProfileDb } from '../src/profiles/db.js';
import { chooseExecution, STEP_TIE_REL, withExecutions } from '../src/search/choose.js';

// llama8b on one H100 node, tp 2 dp 4 pp 1 mbs 1: none/none, none/optimizer, selective/none, selective/optimizer (request order)
function setup() {
  const args = ['--model-type', 'llama8b', '--gbs', '32', '--recompute', 'none,selective', '--dp-sharding', 'none,optimizer', '--virtual-stages', '1', '--no-sequence-parallel'];
  const raw = addSearchOptions(new Command('search')).exitOverride().parse(args, { from: 'user' }).opts() as RawSearchOptions;
  const r = resolveSearchOptions(raw, ['H100', '1']);
  const profiles = ProfileDb.open(r.profileDir);
  const degrees = { tp: 2, dp: 4, pp: 1, mbs: 1 };
  const choice = withExecutions(r.request, [degrees], 32);
  assert.deepEqual(choice.map((st) => `${st.execution!.recompute}/${st.execution!.dpSharding}`), ['none/none', 'none/optimizer', 'selective/none', 'selective/optimizer']);
  const [place] = checkedPlacements(r.request, r.catalog, profiles, { ...degrees, gbs: 32, execution: choice[0]!.execution! });
  return { req: r.request, profiles, choice, place: place! };
}

/**
 * An estimator of given step times by execution (recompute/sharding), whose dominance floor for
 * selective/none from none/none is none/none's step, and for selective/optimizer past every other.
 */
function scripted(steps: Record<string, number>, timed: string[]): Estimator {
  const base = getEstimator('fasop');
  const key = (plan: ResolvedPlan) => `${plan.execution!.recompute}/${plan.execution!.dpSharding}`;
  const runs = new Map<PipelineRun, string>();
  const estimator: Estimator = Object.assign((p: ResolvedPlan) => base(p), {
    timing: async (plan: ResolvedPlan): Promise<Timing> => {
      const k = key(plan);
      timed.push(k);
      const pipeline: PipelineRun = { m: 1, v: 1, sp: false, cp: 1, lists: { forward_s: [], backward_s: [], compute_s: [], forwardSend_s: [], backwardSend_s: [], comm_s: [] }, ends: [] };
      runs.set(pipeline, k);
      return { stepTime_s: steps[k]!, isOom: false, tightMemory_GiB: 1, tightLimit_GiB: 2, timed: true, estimate: () => ({ stepTime_s: steps[k]! } as Estimate), pipeline };
    },
    dominanceFloors_s: async (plan: ResolvedPlan, list: readonly PipelineRun[]) => list.map((r) => {
      const k = key(plan);
      if (k === 'selective/none' && runs.get(r) === 'none/none') return steps['none/none']!;
      if (k === 'selective/optimizer') return 10;
      return undefined;
    }),
  });
  return estimator;
}

test('an execution no faster than an earlier fitting one is not timed, and the choice is that of timing all', async () => {
  const { req, profiles, choice, place } = setup();
  const steps = { 'none/optimizer': 1, 'none/none': 1.001, 'selective/none': 1.002, 'selective/optimizer': 1.1 };
  const timed: string[] = [];
  const c = await chooseExecution(req, profiles, scripted(steps, timed), place, choice, 32);
  assert.deepEqual(timed.sort(), ['none/none', 'none/optimizer']);
  assert.equal(c.fit!.plan.execution!.dpSharding, 'optimizer');
  assert.equal(c.fit!.plan.execution!.recompute, 'none');
});

test('where the execution that rules one out is just past the tie distance of the fastest, the one ruled out is timed (and may be kept)', async () => {
  const { req, profiles, choice, place } = setup();
  // none/none lies within 1e-9 past the tie distance of none/optimizer; selective/none, within rounding of
  // none/none's floor, is faster than both and earlier in the request's order than none/optimizer
  const S = 1;
  const steps = { 'none/optimizer': S, 'none/none': S * (1 + STEP_TIE_REL) * (1 + 5e-10), 'selective/none': S * (1 - 4e-10), 'selective/optimizer': 1.1 };
  const timed: string[] = [];
  const c = await chooseExecution(req, profiles, scripted(steps, timed), place, choice, 32);
  assert.ok(timed.includes('selective/none'), `timed: ${timed.join(', ')}`);
  assert.equal(c.fit!.plan.execution!.recompute, 'selective');
  assert.equal(c.fit!.plan.execution!.dpSharding, 'none');
  // farther past the tie distance, it is not timed
  const far: string[] = [];
  await chooseExecution(req, profiles, scripted({ ...steps, 'none/none': S * 1.01, 'selective/none': S * 1.01 }, far), place, choice, 32);
  assert.ok(!far.includes('selective/none'), `timed: ${far.join(', ')}`);
});
