/**
 * A `file://` IO handler for Node, so `model.save('file://dir')` and
 * `tf.loadLayersModel('file://dir/model.json')` work without @tensorflow/tfjs-node (whose handler
 * ships only with its native binding). Same files as tfjs-node's `NodeFileSystem`
 * (tfjs-node 4.22.0 src/io/file_system.ts): `dir/model.json` (topology, training config with the
 * optimizer, weights manifest) and `dir/weights.bin` (model weights, then optimizer weights).
 *
 * The router yields to any other handler that claims the URL (tfjs-node's, when installed), so there
 * is never a "more than one handler" error, whatever the import order. Errors name the path: a
 * missing or unreadable file, JSON that does not parse, a model.json without `modelTopology`, a
 * weights file shorter or longer than its manifest says.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A router as tf.io.registerSaveRouter takes it (tfjs does not export the type). */
type IORouter = Parameters<typeof tf.io.registerSaveRouter>[0];

const SCHEME = 'file://';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

function readOrThrow(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what}: no such file ${path}`);
    if (code === 'EISDIR') throw new Error(`${what}: ${path} is a directory, expected a file`);
    throw new Error(`${what}: cannot read ${path} (${(e as Error).message})`);
  }
}

/** Bytes the manifest's specs need, or null when a string weight makes the size data-dependent. */
function expectedBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const s of specs) {
    const dtype = s.quantization?.dtype ?? s.dtype;
    if (BYTES[dtype] === undefined) return null;
    total += tf.util.sizeFromShape(s.shape) * BYTES[dtype];
  }
  return total;
}

/** tfjs-node's file layout on the local file system; `path` is a directory (save) or model.json (load). */
export class NodeFileSystemHandler implements tf.io.IOHandler {
  /** Absolute path. */
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** Writes `path/model.json` and `path/weights.bin`, creating the directory; throws if `path` is a file. */
  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error(`save to ${SCHEME}${this.path}: a binary model topology cannot be saved as model.json`);
    let isFile = false;
    try {
      isFile = statSync(this.path).isFile();
    } catch {
      // does not exist yet
    }
    if (isFile) throw new Error(`save to ${SCHEME}${this.path}: the path is a file; give a directory (model.json and weights.bin are written into it)`);
    mkdirSync(this.path, { recursive: true });
    const weightsPath = join(this.path, WEIGHTS_BIN);
    const modelJSON: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology as object,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
    };
    for (const key of ['trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature'] as const) {
      if (artifacts[key] != null) (modelJSON as unknown as Record<string, unknown>)[key] = artifacts[key];
    }
    const data = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    writeFileSync(weightsPath, Buffer.from(data));
    writeFileSync(join(this.path, MODEL_JSON), JSON.stringify(modelJSON));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  /** Reads model.json (`path`, or `path/model.json` for a directory) and the weight files it lists. */
  async load(): Promise<tf.io.ModelArtifacts> {
    let modelPath = this.path;
    try {
      if (statSync(modelPath).isDirectory()) modelPath = join(modelPath, MODEL_JSON);
    } catch {
      // reported by readOrThrow below
    }
    const what = `load from ${SCHEME}${this.path}`;
    const text = readOrThrow(modelPath, what).toString('utf8');
    let json: tf.io.ModelJSON;
    try {
      json = JSON.parse(text) as tf.io.ModelJSON;
    } catch (e) {
      throw new Error(`${what}: ${modelPath} is not valid JSON (${(e as Error).message})`);
    }
    if (json == null || typeof json !== 'object' || json.modelTopology == null) throw new Error(`${what}: ${modelPath} has no 'modelTopology'; is it a tfjs model.json?`);
    return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      const paths: string[] = [];
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const full = join(dirname(modelPath), p);
          paths.push(full);
          parts.push(readOrThrow(full, what));
        }
      }
      const buf = Buffer.concat(parts);
      const need = expectedBytes(specs);
      if (need !== null && need !== buf.byteLength) {
        throw new Error(`${what}: ${paths.join(', ')} hold${paths.length === 1 ? 's' : ''} ${buf.byteLength} bytes but ${modelPath}'s weightsManifest needs ${need}; the files are truncated or from another save`);
      }
      const data = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      return [specs, data];
    });
  }
}

let inRouter = false;

/** Routes `file://` URLs to a NodeFileSystemHandler unless another registered router claims them. */
function router(kind: 'save' | 'load'): IORouter {
  // tfjs's IORouter type says IOHandler, but its registry expects null for "not mine".
  return ((url: string | string[]): tf.io.IOHandler | null => {
    if (inRouter || typeof url !== 'string' || !url.startsWith(SCHEME)) return null;
    inRouter = true;
    try {
      const others = kind === 'save' ? tf.io.getSaveHandlers(url) : tf.io.getLoadHandlers(url);
      if (others.length > 0) return null;
    } finally {
      inRouter = false;
    }
    return new NodeFileSystemHandler(url.slice(SCHEME.length));
  }) as IORouter;
}

/** Process-wide mark: this module may be loaded twice (ESM and CommonJS), its routers must not be. */
const REGISTERED = Symbol.for('optlab.io_node_fs.registered');

/** Registers the `file://` save and load routers once per process (see the module comment). */
export function registerNodeFileSystem(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[REGISTERED]) return;
  g[REGISTERED] = true;
  tf.io.registerSaveRouter(router('save'));
  tf.io.registerLoadRouter(router('load'));
}
