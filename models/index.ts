/** The `optlab/models` entry point: the char GPT, the ViT, their layers and the data pipelines. */
export * from './model.js';
export * from './layers.js';
export * from './gpt.js';
export * from './vit.js';
export * from './data.js';
export * from './layers_model.js';
