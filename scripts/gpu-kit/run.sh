#!/usr/bin/env bash
# Runs the training benchmark from the kit that `npm run gpu-kit` packs (scripts/gpu-kit/pack.ts) on a
# machine with a GPU and no Node.js: the webgpu row, then PyTorch on CUDA as the yardstick, Yelp shape.
#
#   bash scripts/gpu-kit/run.sh [KIT] [-- bench:train options]   (default KIT .gpu-kit; default options
#                                                                 --shape yelp --only webgpu --torch-device cuda)
# Output goes to stdout and, where $OUT is set (the device tool), to $OUT/bench.txt.
set -uo pipefail
kit=.gpu-kit
if [ $# -gt 0 ] && [ "$1" != "--" ]; then kit=$1; shift; fi
[ "${1:-}" = "--" ] && shift
options=("$@")
[ ${#options[@]} -eq 0 ] && options=(--shape yelp --only webgpu --torch-device cuda)
[ -f "$kit/bench.mjs" ] || { echo "gpu-kit: $kit/bench.mjs is missing; run npm run gpu-kit first" >&2; exit 1; }

# xz where the machine has it, else Python's lzma (a bare image may lack xz-utils, not python3).
unxz_to() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}
work=$(mktemp -d /tmp/gpu-kit.XXXXXX)
cp -r "$kit"/. "$work"/
unxz_to "$work/node.xz" "$work/node" && chmod +x "$work/node" || { echo "gpu-kit: could not unpack node (neither xz nor python3's lzma worked)" >&2; exit 1; }
unxz_to "$work/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$work/node_modules/webgpu/dist/linux-x64/dawn.node" || exit 1

# Dawn needs the Vulkan loader; unpack the kit's where the machine has none (never over one it has).
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$work"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# The NVIDIA driver's Vulkan manifest, where the loader does not find it by itself.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$nvidia_icd
fi

{
  echo "# gpu-kit $(date -u +%FT%TZ) on $(uname -n): $(nvidia-smi -L 2>/dev/null | head -1 || echo 'no nvidia-smi')"
  # The first python3 that has torch: the one on PATH (the GPU machine's), else Debian's.
  python=/usr/bin/python3
  for p in "$(command -v python3)" /usr/bin/python3; do
    if [ -n "$p" ] && "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
  done
  export VCM_TORCH_SCRIPT="$work/vcm_torch.py" VCM_TORCH_PYTHON="$python"
  # bench.mjs writes its random data and the native addon's build (if asked for) under the temporary folder.
  cd "$work" && ./node bench.mjs "${options[@]}"
} 2>&1 | if [ -n "${OUT:-}" ]; then tee "$OUT/bench.txt"; else cat; fi
status=${PIPESTATUS[0]}
rm -rf "$work"
exit "$status"
