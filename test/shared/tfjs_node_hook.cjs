// Preloaded by tests with `NODE_OPTIONS=--require <this file>`, so child processes inherit it:
// OPTLAB_HIDE_TFJS_NODE=1 makes @tensorflow/tfjs-node and -gpu unresolvable, as on a machine without
// them; OPTLAB_TFJS_NODE_LOG=<file> appends every attempt to resolve them to that file, one per line.
const Module = require('node:module');
const { appendFileSync } = require('node:fs');

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (/^@tensorflow\/tfjs-node(-gpu)?(\/|$)/.test(request)) {
    if (process.env.OPTLAB_TFJS_NODE_LOG) appendFileSync(process.env.OPTLAB_TFJS_NODE_LOG, `${request}\n`);
    if (process.env.OPTLAB_HIDE_TFJS_NODE === '1') {
      const e = new Error(`Cannot find module '${request}' (hidden by test/shared/tfjs_node_hook.cjs)`);
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    }
  }
  return resolveFilename.call(this, request, ...rest);
};
