#!/usr/bin/env bash
# The peer for every speed claim: the current PyTorch from PyPI, in a virtual environment at
# bench/.venv (git-ignored), with numpy and sentence-transformers for the embedding comparison.
# Pinned, so every machine compares against the same thing. About 3 GB (torch's wheels carry
# CUDA libraries; on a CPU it runs with MKL and oneDNN). Idempotent: does nothing when the
# pinned versions import.
#
#   bash bench/setup-pytorch.sh            # PyPI's torch into bench/.venv (the default peer)
#   bash bench/setup-pytorch.sh --debian   # Debian's python3-torch 1.13 instead (apt; old)
#
# PYTHON=/path/to/python3.11 picks the interpreter the venv is made from.
set -euo pipefail
cd "$(dirname "$0")"

TORCH=2.15.0
NUMPY=2.4.6
ST=2.2.2
# sentence-transformers 2.2.2 imports huggingface_hub.cached_download (removed in 0.26) and
# predates transformers 5.
HUB=0.25.2
TRANSFORMERS=4.46.3

if [ "${1:-}" = "--debian" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y python3-torch python3-numpy libopenblas0-pthread
    /usr/bin/python3 -c 'import torch; print("installed: torch", torch.__version__, "(/usr/bin/python3)")'
    exit 0
fi

py=.venv/bin/python
want="torch==$TORCH numpy==$NUMPY sentence-transformers==$ST"
if [ -x "$py" ] && "$py" - <<PY 2>/dev/null
import torch, numpy, sentence_transformers
assert torch.__version__.split("+")[0] == "$TORCH", torch.__version__
assert sentence_transformers.__version__ == "$ST"
PY
then
    echo "already installed: $want (bench/.venv)"
    exit 0
fi

"${PYTHON:-python3}" -m venv .venv
"$py" -m pip install --quiet --disable-pip-version-check \
    "torch==$TORCH" "numpy==$NUMPY" "sentence-transformers==$ST" \
    "huggingface_hub==$HUB" "transformers==$TRANSFORMERS"
"$py" -c 'import torch, sentence_transformers as st; print("installed: torch", torch.__version__, "sentence-transformers", st.__version__, "(bench/.venv)")'
