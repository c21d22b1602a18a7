#!/usr/bin/env bash
# The GPU probe, one device call from the repository root: `bash bench/gpu_probe.sh` with
# bench/gpu-probe-pack carried (node bench/gpu_probe_pack.mjs makes it; the machine needs no
# node_modules; it needs node 20 on PATH). From a session with a lent device: the `run` tool with
# command `bash bench/gpu_probe.sh` and carry ["bench/gpu-probe-pack"]. Writes $OUT/gpu_probe.md (default ./gpu-probe/) and the tools' stderr beside it:
#   1. the machine and the NVIDIA driver (nvidia-smi, /proc/driver/nvidia/version, libcuda),
#   2. Vulkan: the loader and the ICD files (lavapipe, nvidia, ...), vulkaninfo --summary if present,
#   3. WebGPU through the npm `webgpu` package (Dawn): the adapter it finds, and with one the bench
#      GPT's train step (AdamW, Muon) and the parity fixtures on tfjs's webgpu backend (bench/gpu_probe.ts),
#   4. tfjs-node-gpu: whether a libtensorflow with CUDA is there for it (the package, its
#      libtensorflow's CUDA dependencies, CUDA 11.2 / cuDNN 8 libraries, tensorflow's own GPU list).
# Every section reports what it finds ("no driver", "no adapter"); the script exits 0 unless it breaks.
# Options via environment: GPU_PROBE_BUDGET_S (fixtures, default 240), GPU_PROBE_STEPS (default 10);
# arguments go to bench/gpu_probe.ts (--backend cpu checks the probe itself on a machine without a GPU).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-probe}"
mkdir -p "$OUT"
R="$OUT/gpu_probe.md"
ERR="$OUT/stderr.log"
: >"$R"
: >"$ERR"
say() { printf '%s\n' "$*" >>"$R"; }
code() { say '```'; "$@" >>"$R" 2>>"$ERR" || say "(exit $?)"; say '```'; }
have() { command -v "$1" >/dev/null 2>&1; }

say "# GPU probe, $(date -u '+%Y-%m-%d %H:%M UTC')"
say
say "- host: $(uname -srm), CPU $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
say "- node: $(node --version 2>/dev/null || echo 'not found')"
say "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
say
say "## NVIDIA driver"
if have nvidia-smi; then
  code nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  say "- CUDA version the driver supports: $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 || echo unknown)"
else
  say "- nvidia-smi: not found"
fi
if [ -r /proc/driver/nvidia/version ]; then
  say "- kernel module: $(head -1 /proc/driver/nvidia/version)"
else
  say "- kernel module: no driver (/proc/driver/nvidia/version absent)"
fi
libs() { ldconfig -p 2>/dev/null | grep -o "$1[^ ]*" | sort -u | tr '\n' ' '; }
say "- libcuda: $(libs 'libcuda\.so' || true)"
say "- CUDA runtime / cuDNN / cuBLAS: $(libs 'libcudart\.so')$(libs 'libcudnn\.so')$(libs 'libcublas\.so')"
say
say "## Vulkan"
say "- loader libvulkan.so.1: $(ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && echo present || echo absent)"
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null || true)
if [ -n "$icds" ]; then
  for f in $icds; do say "- ICD: $f ($(grep -o '"library_path"[^,}]*' "$f" | head -1))"; done
else
  say "- ICD: none (no file in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d, /usr/local/share/vulkan/icd.d)"
fi
if have vulkaninfo; then code vulkaninfo --summary; else say "- vulkaninfo: not installed"; fi
say
if [ -f bench/gpu-probe-pack/probe.mjs ]; then
  timeout 300 node bench/gpu-probe-pack/probe.mjs --steps "${GPU_PROBE_STEPS:-10}" "$@" >>"$R" 2>>"$ERR"
  rc=$?
  if [ $rc -eq 0 ]; then
    # The parity fixtures through optlab's own `replay`, on the backend the probe ran (webgpu, or --backend's).
    backend=webgpu
    for a in "$@"; do [ "${prev:-}" = "--backend" ] && backend="$a"; prev="$a"; done
    say
    say "### Parity fixtures on $backend (\`optlab replay test/fixtures/*.json --backend $backend\`)"
    timeout "${GPU_PROBE_BUDGET_S:-240}" node bench/gpu-probe-pack/optlab.mjs replay test/fixtures/*.json --backend "$backend" >"$OUT/replay.txt" 2>>"$ERR"
    rrc=$?
    say "- exit $rrc (0: all within tolerance, 1: some outside, 2: unreadable, 124: stopped after ${GPU_PROBE_BUDGET_S:-240} s); $(grep -c . "$OUT/replay.txt") result lines in replay.txt"
    grep -i -E 'fail|outside|error' "$OUT/replay.txt" | head -20 | sed 's/^/  - /' >>"$R"
  elif [ $rc -ne 3 ]; then
    say "(bench/gpu_probe.ts exited $rc; see stderr.log)"
  fi
else
  say "## WebGPU"
  say "- not probed: bench/gpu-probe-pack/probe.mjs is missing (run node bench/gpu_probe_pack.mjs here and carry bench/gpu-probe-pack)"
fi
say
say "## tfjs-node-gpu (libtensorflow with CUDA)"
pkg=node_modules/@tensorflow/tfjs-node-gpu
if [ -d "$pkg" ]; then
  say "- package: $(node -p "require('./$pkg/package.json').version" 2>/dev/null)"
  lib=$(ls "$pkg"/deps/lib/libtensorflow.so* 2>/dev/null | head -1)
  if [ -n "$lib" ]; then
    say "- $lib needs: $(ldd "$lib" 2>/dev/null | grep -E 'cuda|cudnn|cublas' | tr -s ' \t' ' ' | tr '\n' ';')"
  else
    say "- libtensorflow: not in $pkg/deps/lib (its install script downloads a CUDA 11.2 build; no network here)"
  fi
else
  say "- package: not installed (npm i @tensorflow/tfjs-node-gpu@4.22.0 needs the network to download libtensorflow 2.9.1 with CUDA 11.2 + cuDNN 8.1)"
fi
if have python3 && python3 -c 'import tensorflow' >/dev/null 2>&1; then
  say "- python tensorflow: $(python3 -c 'import tensorflow as t; print(t.__version__, "GPUs:", t.config.list_physical_devices("GPU"), "built with CUDA:", t.test.is_built_with_cuda())' 2>>"$ERR")"
else
  say "- python tensorflow: not installed (a pip tensorflow with CUDA would carry a libtensorflow_cc for tfjs-node-gpu to build against)"
fi
echo "gpu_probe: wrote $R"
cat "$R"
