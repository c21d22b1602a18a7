// Generated from the registry (optimizers/index.ts) by optimizers/generate_exports.ts: `npm run generate`. Do not edit.
/** Every registry method as a tf.Optimizer class and a lowerCamel factory (optimizers/tfjs.ts makes and registers them). */
import { TF_OPTIMIZER_CLASSES, tfOptimizerFactory } from './tfjs.js';

/** The 'adamw' method as a tf.Optimizer class, registered with tf.serialization as 'AdamWOptimizer'. */
export const AdamWOptimizer = TF_OPTIMIZER_CLASSES.adamw;
/** An instance of AdamWOptimizer. */
export type AdamWOptimizer = InstanceType<typeof AdamWOptimizer>;
/** The 'adamw' method as a tf.Optimizer: `adamw(config)` is `new AdamWOptimizer(config)`. */
export const adamw = tfOptimizerFactory('adamw');

/** The 'sgd' method as a tf.Optimizer class, registered with tf.serialization as 'SGDOptimizer'. */
export const SGDOptimizer = TF_OPTIMIZER_CLASSES.sgd;
/** An instance of SGDOptimizer. */
export type SGDOptimizer = InstanceType<typeof SGDOptimizer>;
/** The 'sgd' method as a tf.Optimizer: `sgd(config)` is `new SGDOptimizer(config)`. */
export const sgd = tfOptimizerFactory('sgd');

/** The 'muon' method as a tf.Optimizer class, registered with tf.serialization as 'MuonOptimizer'. */
export const MuonOptimizer = TF_OPTIMIZER_CLASSES.muon;
/** An instance of MuonOptimizer. */
export type MuonOptimizer = InstanceType<typeof MuonOptimizer>;
/** The 'muon' method as a tf.Optimizer: `muon(config)` is `new MuonOptimizer(config)`. */
export const muon = tfOptimizerFactory('muon');

/** The 'muon-moonlight' method as a tf.Optimizer class, registered with tf.serialization as 'MuonMoonlightOptimizer'. */
export const MuonMoonlightOptimizer = TF_OPTIMIZER_CLASSES['muon-moonlight'];
/** An instance of MuonMoonlightOptimizer. */
export type MuonMoonlightOptimizer = InstanceType<typeof MuonMoonlightOptimizer>;
/** The 'muon-moonlight' method as a tf.Optimizer: `muonMoonlight(config)` is `new MuonMoonlightOptimizer(config)`. */
export const muonMoonlight = tfOptimizerFactory('muon-moonlight');

/** The 'mars-m' method as a tf.Optimizer class, registered with tf.serialization as 'MarsMOptimizer'. */
export const MarsMOptimizer = TF_OPTIMIZER_CLASSES['mars-m'];
/** An instance of MarsMOptimizer. */
export type MarsMOptimizer = InstanceType<typeof MarsMOptimizer>;
/** The 'mars-m' method as a tf.Optimizer: `marsM(config)` is `new MarsMOptimizer(config)`. */
export const marsM = tfOptimizerFactory('mars-m');

/** The 'mars' method as a tf.Optimizer class, registered with tf.serialization as 'MarsOptimizer'. */
export const MarsOptimizer = TF_OPTIMIZER_CLASSES.mars;
/** An instance of MarsOptimizer. */
export type MarsOptimizer = InstanceType<typeof MarsOptimizer>;
/** The 'mars' method as a tf.Optimizer: `mars(config)` is `new MarsOptimizer(config)`. */
export const mars = tfOptimizerFactory('mars');

/** The 'auon' method as a tf.Optimizer class, registered with tf.serialization as 'AuonOptimizer'. */
export const AuonOptimizer = TF_OPTIMIZER_CLASSES.auon;
/** An instance of AuonOptimizer. */
export type AuonOptimizer = InstanceType<typeof AuonOptimizer>;
/** The 'auon' method as a tf.Optimizer: `auon(config)` is `new AuonOptimizer(config)`. */
export const auon = tfOptimizerFactory('auon');

/** The 'hybrid-auon' method as a tf.Optimizer class, registered with tf.serialization as 'HybridAuonOptimizer'. */
export const HybridAuonOptimizer = TF_OPTIMIZER_CLASSES['hybrid-auon'];
/** An instance of HybridAuonOptimizer. */
export type HybridAuonOptimizer = InstanceType<typeof HybridAuonOptimizer>;
/** The 'hybrid-auon' method as a tf.Optimizer: `hybridAuon(config)` is `new HybridAuonOptimizer(config)`. */
export const hybridAuon = tfOptimizerFactory('hybrid-auon');

/** The 'reg' method as a tf.Optimizer class, registered with tf.serialization as 'RegOptimizer'. */
export const RegOptimizer = TF_OPTIMIZER_CLASSES.reg;
/** An instance of RegOptimizer. */
export type RegOptimizer = InstanceType<typeof RegOptimizer>;
/** The 'reg' method as a tf.Optimizer: `reg(config)` is `new RegOptimizer(config)`. */
export const reg = tfOptimizerFactory('reg');

/** The 'shampoo' method as a tf.Optimizer class, registered with tf.serialization as 'ShampooOptimizer'. */
export const ShampooOptimizer = TF_OPTIMIZER_CLASSES.shampoo;
/** An instance of ShampooOptimizer. */
export type ShampooOptimizer = InstanceType<typeof ShampooOptimizer>;
/** The 'shampoo' method as a tf.Optimizer: `shampoo(config)` is `new ShampooOptimizer(config)`. */
export const shampoo = tfOptimizerFactory('shampoo');

/** The 'lion' method as a tf.Optimizer class, registered with tf.serialization as 'LionOptimizer'. */
export const LionOptimizer = TF_OPTIMIZER_CLASSES.lion;
/** An instance of LionOptimizer. */
export type LionOptimizer = InstanceType<typeof LionOptimizer>;
/** The 'lion' method as a tf.Optimizer: `lion(config)` is `new LionOptimizer(config)`. */
export const lion = tfOptimizerFactory('lion');

/** The 'normuon' method as a tf.Optimizer class, registered with tf.serialization as 'NorMuonOptimizer'. */
export const NorMuonOptimizer = TF_OPTIMIZER_CLASSES.normuon;
/** An instance of NorMuonOptimizer. */
export type NorMuonOptimizer = InstanceType<typeof NorMuonOptimizer>;
/** The 'normuon' method as a tf.Optimizer: `normuon(config)` is `new NorMuonOptimizer(config)`. */
export const normuon = tfOptimizerFactory('normuon');

/** The 'adamuon' method as a tf.Optimizer class, registered with tf.serialization as 'AdaMuonOptimizer'. */
export const AdaMuonOptimizer = TF_OPTIMIZER_CLASSES.adamuon;
/** An instance of AdaMuonOptimizer. */
export type AdaMuonOptimizer = InstanceType<typeof AdaMuonOptimizer>;
/** The 'adamuon' method as a tf.Optimizer: `adamuon(config)` is `new AdaMuonOptimizer(config)`. */
export const adamuon = tfOptimizerFactory('adamuon');

/** The 'scion' method as a tf.Optimizer class, registered with tf.serialization as 'ScionOptimizer'. */
export const ScionOptimizer = TF_OPTIMIZER_CLASSES.scion;
/** An instance of ScionOptimizer. */
export type ScionOptimizer = InstanceType<typeof ScionOptimizer>;
/** The 'scion' method as a tf.Optimizer: `scion(config)` is `new ScionOptimizer(config)`. */
export const scion = tfOptimizerFactory('scion');

/** The 'soap' method as a tf.Optimizer class, registered with tf.serialization as 'SoapOptimizer'. */
export const SoapOptimizer = TF_OPTIMIZER_CLASSES.soap;
/** An instance of SoapOptimizer. */
export type SoapOptimizer = InstanceType<typeof SoapOptimizer>;
/** The 'soap' method as a tf.Optimizer: `soap(config)` is `new SoapOptimizer(config)`. */
export const soap = tfOptimizerFactory('soap');

/** The 'psgd-kron' method as a tf.Optimizer class, registered with tf.serialization as 'PsgdKronOptimizer'. */
export const PsgdKronOptimizer = TF_OPTIMIZER_CLASSES['psgd-kron'];
/** An instance of PsgdKronOptimizer. */
export type PsgdKronOptimizer = InstanceType<typeof PsgdKronOptimizer>;
/** The 'psgd-kron' method as a tf.Optimizer: `psgdKron(config)` is `new PsgdKronOptimizer(config)`. */
export const psgdKron = tfOptimizerFactory('psgd-kron');

/** The 'dion' method as a tf.Optimizer class, registered with tf.serialization as 'DionOptimizer'. */
export const DionOptimizer = TF_OPTIMIZER_CLASSES.dion;
/** An instance of DionOptimizer. */
export type DionOptimizer = InstanceType<typeof DionOptimizer>;
/** The 'dion' method as a tf.Optimizer: `dion(config)` is `new DionOptimizer(config)`. */
export const dion = tfOptimizerFactory('dion');
