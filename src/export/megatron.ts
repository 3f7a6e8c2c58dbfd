import { formatMegatronLayout } from './layout.js';

export interface MegatronArgs {
  /** argv tokens, in order */
  args: string[];
  /** the same, one flag per line, shell-quoted, joined with ` \` line continuations */
  text: string;
  /** the layout string (null for pp = 1, where no layout is needed) */
  layout: string | null;
  /** data parallel size Megatron derives: world size / (tp · pp) */
  dataParallelSize: number;
  worldSize: number;
}

/** Quote a shell word when it holds anything beyond [A-Za-z0-9_./:=@%+-]. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Megatron-LM arguments for a plan: parallel sizes, micro/global batch, layers and the layout
 * of `layersPerStage` (embedding on stage 0, loss on the last stage). Data parallelism is implied
 * by the world size; Megatron runs gbs / (mbs · dp) micro-batches per step, as fasop assumes.
 */
export function megatronArgs(p: { tp: number; dp: number; pp: number; mbs: number; gbs: number }, numLayers: number, layersPerStage: readonly number[]): MegatronArgs {
  const layout = p.pp > 1 ? formatMegatronLayout(layersPerStage) : null;
  const args = [
    '--tensor-model-parallel-size', String(p.tp),
    '--pipeline-model-parallel-size', String(p.pp),
    '--micro-batch-size', String(p.mbs),
    '--global-batch-size', String(p.gbs),
    '--num-layers', String(numLayers),
    ...(layout ? ['--pipeline-model-parallel-layout', layout] : []),
  ];
  const pairs: string[] = [];
  for (let i = 0; i < args.length; i += 2) pairs.push(`${args[i]} ${shellQuote(args[i + 1]!)}`);
  return { args, text: pairs.join(' \\\n'), layout, dataParallelSize: p.dp, worldSize: p.tp * p.dp * p.pp };
}
