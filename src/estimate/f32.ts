/** Round to the nearest IEEE binary32 (the original mixes float32 torch tensors into its math). */
export const f32 = Math.fround;
