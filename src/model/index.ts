// The model's public API: what the training and evaluation stages import.
export {
  ALL_ROLES, DEFAULT_BACKBONE, DEFAULT_MARGIN, NORM, REGULARIZATION, UNITS, backboneConfig, checkBackbone, checkHead,
  type BackboneConfig, type Depth, type HeadConfig, type InitScheme, type MarginConfig, type NormConfig,
  type ParamRole, type PreluConfig, type RegularizationConfig,
} from './config.js';
export { EXPORT_FORMAT, loadEmbeddingModel, saveEmbeddingModel, toLayersModel, type Embedder, type ExportMetadata } from './export.js';
export { accuracy, crossEntropy, type Head, type HeadOut } from './head.js';
export { backboneParams, units, type Backbone, type Unit } from './iresnet.js';
export type { ConvImpl } from './conv.js';
export { FAST, PLAIN, type ForwardOptions, type Impl, type KernelChoice } from './kernels.js';
export { arcfaceConstants } from './margin.js';
export { createFaceModel, type FaceModel, type FaceModelConfig, type FaceModelOptions } from './model.js';
export { countParams, ParamStore, type Param, type ParamSpec } from './params.js';
export { regularizationLoss, regularizedParams } from './regularization.js';
