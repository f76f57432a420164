#!/usr/bin/env bash
# Trains the shipped model from scratch: corpus -> tokenizer -> token ids -> PyTorch training -> checkpoint.
# Usage: ops/train/run.sh [OUT_DIR [train.py flags...]]   (OUT_DIR defaults to model/checkpoints/sotu-moe)
# Needs PyTorch for /usr/bin/python3 with a fast BLAS (Debian: apt-get install python3-torch libopenblas0-pthread;
# without OpenBLAS, Debian's torch uses the reference BLAS, ~20x slower); everything else is the project's.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-model/checkpoints/sotu-moe}
shift || true
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import torch' 2>/dev/null || { echo "train: $python has no PyTorch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm run --silent build
node dist/ops/train/prepare.js "$work" "$out"
"$python" ops/train/train.py --work "$work" --out "$out" "$@" | tee "$work/train.log"
