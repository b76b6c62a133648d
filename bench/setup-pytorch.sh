#!/usr/bin/env bash
# Install the PyTorch used by bench/pytorch_models.py from Debian's archive
# (python3-torch, python3-numpy): no pip and no wheels, so it works wherever apt does.
# libopenblas0-pthread matters: without it Debian's torch multiplies matrices with the
# reference BLAS (measured: the MLP trained at 113 samples/s at batch 256 instead of 1,545).
# Idempotent: does nothing when torch and numpy import and OpenBLAS is installed.
#
# Debian's packages live in the system interpreter (/usr/bin/python3). When `python3` on
# PATH is another one (pyenv, a virtualenv), pytorch_models.py re-runs itself under
# /usr/bin/python3, so the same command line works either way.
set -euo pipefail

have_torch() {
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import torch, numpy' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

if py=$(have_torch) && dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    echo "already installed: torch $("$py" -c 'import torch; print(torch.__version__)') ($py)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y python3-torch python3-numpy libopenblas0-pthread

if ! py=$(have_torch); then
    echo "python3-torch installed but torch still does not import" >&2
    exit 1
fi
echo "installed: torch $("$py" -c 'import torch; print(torch.__version__)') ($py)"
