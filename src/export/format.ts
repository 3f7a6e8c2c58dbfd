import { FasopError } from '../errors.js';
import type { ExportResult } from './export.js';

export type ExportFormat = 'megatron' | 'torchtitan' | 'json';

const fmtS = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : `${Number(x.toPrecision(7))} s`);

/** `# `-prefixed notes (valid in shell scripts and TOML): plan, rounding, placement, warnings. */
export function commentLines(r: ExportResult, format: ExportFormat = 'json'): string[] {
  const p = r.plan;
  const lines = [
    `plan: tp=${p.tp}${p.cp > 1 ? ` cp=${p.cp}` : ''} dp=${p.dp} pp=${p.pp} mbs=${p.mbs} gbs=${p.gbs} (${p.microBatches} micro-batch${p.microBatches === 1 ? '' : 'es'} per step) on ${p.cluster}: ${p.nodes} node(s) × ${p.gpusPerNode} GPUs = ${p.worldSize} GPUs; ${p.model} (${p.numLayers} layers)`,
    `execution: ${p.execution.label}${p.recipe ? `; recipe ${p.recipe}` : ''}`,
    `estimated step time: ${fmtS(p.stepTime_s)}${p.estimator ? ` (${p.estimator} estimator${p.partitionMethod ? `, ${p.partitionMethod} partition` : ''})` : ''}${p.isOom ? '  — OOM estimated' : ''}`,
    `layers per stage: [${r.layerPartition.layersPerStage.join(', ')}]` + (r.layerPartition.exact ? ' (the plan\'s own partition: it cuts only between layers)' : ' (rounded, see below)'),
  ];
  const lpart = r.layerPartition;
  if (lpart.exact) {
    lines.push(lpart.stepTime_s !== null
      ? `re-estimated as exported: step time ${fmtS(lpart.stepTime_s)}${lpart.isOom ? '  — OOM estimated' : ''}`
      : `not re-estimated: ${lpart.reestimateError ?? 'unknown reason'}`);
  }
  if (r.layerPartition.virtualStages > 1) lines.push(`model chunks (${r.layerPartition.virtualStages} virtual stages per rank, chunk i on pipeline rank i mod pp): [${r.layerPartition.chunkLayers.join(', ')}] layers`);
  const rd = r.rounding;
  if (rd) {
    lines.push(`rounding: the plan's partition cuts inside layers (graph operators per stage [${rd.from.join(', ')}]); rounded to [${rd.to.join(', ')}]:`);
    for (const b of rd.boundaries) {
      if (b.how === 'exact') continue;
      const moved = b.toOperator - b.fromOperator;
      const ops = `${Math.abs(moved)} operator${Math.abs(moved) === 1 ? '' : 's'}`;
      lines.push(`  stage ${b.boundary}|${b.boundary + 1}: cut before operator ${b.fromOperator} -> before operator ${b.toOperator} (layer ${b.layer} starts stage ${b.boundary + 1}; ${b.how}; ${ops} moved to stage ${moved > 0 ? b.boundary : b.boundary + 1})`);
    }
    lines.push(`  rule: ${rd.rule}`);
    if (rd.stepTimeAfter_s !== null) {
      lines.push(`  cost: step time ${fmtS(rd.stepTimeBefore_s)} -> ${fmtS(rd.stepTimeAfter_s)} (${rd.changePct! >= 0 ? '+' : ''}${rd.changePct!.toFixed(2)} %), both re-estimated with a fixed partition${rd.isOomAfter ? '; rounded plan OOM' : ''}`);
    } else lines.push(`  cost: not re-estimated: ${rd.reestimateError ?? 'unknown reason'}`);
  }
  const pl = r.placement;
  if (pl.heterogeneous) {
    lines.push(`heterogeneous placement (${pl.gpuTypes.join(', ')}): what upstream launchers cannot express:`);
    for (const l of pl.lost) lines.push(`  - ${l}`);
    lines.push(`  rank order: ${pl.rankFormula}`);
    for (const n of pl.nodes) lines.push(`  node rank ${n.nodeRank}: ${n.gpu}, ranks ${n.firstRank}-${n.lastRank}, stage(s) ${n.stages.join(', ')}`);
  }
  for (const w of r.warnings) if (format !== 'megatron' || !w.startsWith('torchtitan')) lines.push(`warning: ${w}`);
  if (format === 'megatron') for (const n of r.megatron?.notes ?? []) lines.push(`note: ${n}`);
  if (format === 'torchtitan') for (const n of r.torchtitan?.notes ?? []) lines.push(`note: ${n}`);
  if (format === 'json') for (const [who, why] of Object.entries(r.refused)) lines.push(`${who} refuses the plan: ${why.message}`);
  return lines.map((l) => `# ${l}`);
}

/** The export in one format; a launcher that refuses the plan is a user error naming why and the fix. */
export function formatExport(r: ExportResult, format: ExportFormat): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  const refusal = r.refused[format];
  if (refusal) throw new FasopError(refusal.message, refusal.hint);
  const head = commentLines(r, format);
  if (format === 'megatron') {
    return [
      '# fasop export: Megatron-LM arguments (data parallel = world size / (tp·cp·pp))',
      ...head,
      `# launch: ${r.megatron!.launch} pretrain_gpt.py <data, optimizer and schedule args> \\`,
      r.megatron!.text,
      '',
    ].join('\n');
  }
  return [
    '# fasop export: torchtitan job config (merge into your train config TOML)',
    ...head,
    r.torchtitan!.toml,
    '',
  ].join('\n');
}
