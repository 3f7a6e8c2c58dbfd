import { FasopError } from '../errors.js';

/**
 * Megatron-LM's `--pipeline-model-parallel-layout` string (megatron/core/transformer/
 * pipeline_parallel_layer_layout.py, `PipelineParallelLayerLayout.parse_str_to_list`):
 *   E = embedding, t = transformer decoder layer, m = MTP layer, L = loss (final norm + output
 *   layer + loss); `|` separates stages; `X*N` repeats one symbol; `(…)*N` repeats a group (not
 *   nested); commas are cosmetic and removed first; any other character (spaces included) is an
 *   error. Stage i of the list belongs to pp rank i mod pp, virtual stage ⌊i/pp⌋ (so the VPP size
 *   is the number of stages / pp). Empty stages are legal.
 */
export type LayoutSymbol = 'E' | 't' | 'm' | 'L';

const SYMBOLS: ReadonlySet<string> = new Set(['E', 't', 'm', 'L']);

/** Format layers per stage as a layout: embedding on stage 0, loss on the last stage. */
export function formatMegatronLayout(layersPerStage: readonly number[]): string {
  if (layersPerStage.length === 0) throw new FasopError('a layout needs at least one stage', 'pass one layer count per pipeline stage');
  const last = layersPerStage.length - 1;
  return layersPerStage
    .map((k, s) => {
      if (!Number.isInteger(k) || k < 0) throw new FasopError(`stage ${s} has ${k} layers`, 'layer counts are whole numbers >= 0');
      const body = k === 0 ? '' : k === 1 ? 't' : `t*${k}`;
      const head = s === 0 ? 'E' : '';
      // `,` is cosmetic for Megatron; it keeps `t*5,L` readable (and `t*5L` would parse the same)
      const tail = s === last ? (body ? ',L' : 'L') : '';
      return `${head}${body}${tail}`;
    })
    .join('|');
}

/** Parse a layout string into stages of symbols, exactly as Megatron-LM's parser reads it. */
export function parseMegatronLayout(layout: string): LayoutSymbol[][] {
  let s = layout.replace(/,/g, '');
  s = s.replace(/\(([^)]+)\)\*(\d+)/g, (_m, group: string, n: string) => group.repeat(Number(n)));
  s = s.replace(/(.)\*(\d+)/g, (_m, ch: string, n: string) => ch.repeat(Number(n)));
  return s.split('|').map((stage) =>
    [...stage].map((ch) => {
      if (!SYMBOLS.has(ch)) {
        throw new FasopError(`invalid layout character '${ch}' in stage '${stage}' of '${layout}'`, 'use only E, t, m, L, |, *N, (…)*N and commas; no spaces');
      }
      return ch as LayoutSymbol;
    }),
  );
}

export interface LayoutStageCounts {
  /** position in the layout string */
  index: number;
  ppRank: number;
  vppRank: number;
  embedding: number;
  decoder: number;
  mtp: number;
  loss: number;
}

/**
 * Parse and validate a layout the way Megatron-LM does for `pp` pipeline ranks and `numLayers`
 * decoder layers (stage count divisible by pp; embedding first and once, loss last and once,
 * decoder count = numLayers, no decoder after an MTP layer). Returns the counts per stage in
 * layout order.
 */
export function validateMegatronLayout(layout: string, pp: number, numLayers: number): LayoutStageCounts[] {
  const stages = parseMegatronLayout(layout);
  if (stages.length % pp !== 0) throw new FasopError(`layout has ${stages.length} stages, not a multiple of pipeline size ${pp}`, 'give pp (or pp × VPP) stages');
  const flat = stages.flat();
  const count = (x: LayoutSymbol) => flat.filter((y) => y === x).length;
  if (flat[0] !== 'E') throw new FasopError(`the first layer of layout '${layout}' must be E (embedding)`, 'start the layout with E');
  if (flat[flat.length - 1] !== 'L') throw new FasopError(`the last layer of layout '${layout}' must be L (loss)`, 'end the layout with L');
  if (count('E') !== 1 || count('L') !== 1) throw new FasopError(`layout '${layout}' must have exactly one E and one L`, 'name the embedding and the loss once');
  if (count('t') !== numLayers) throw new FasopError(`layout '${layout}' has ${count('t')} decoder layers, the model has ${numLayers}`, 'make the t counts sum to --num-layers');
  const firstMtp = flat.indexOf('m');
  if (firstMtp >= 0 && flat.slice(firstMtp).includes('t')) throw new FasopError('decoder layers must come before MTP layers', 'move m after the last t');
  return stages.map((st, index) => ({
    index,
    ppRank: index % pp,
    vppRank: Math.floor(index / pp),
    embedding: st.filter((x) => x === 'E').length,
    decoder: st.filter((x) => x === 't').length,
    mtp: st.filter((x) => x === 'm').length,
    loss: st.filter((x) => x === 'L').length,
  }));
}

/** Decoder layers per pipeline stage of a layout without virtual stages (VPP = 1). */
export function layoutLayersPerStage(layout: string, pp: number, numLayers: number): number[] {
  const stages = validateMegatronLayout(layout, pp, numLayers);
  if (stages.length !== pp) throw new FasopError(`layout has ${stages.length} stages for ${pp} pipeline ranks (virtual stages)`, 'give exactly pp stages');
  return stages.map((s) => s.decoder);
}
