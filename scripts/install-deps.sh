#!/usr/bin/env bash
# Installs what libclssd needs on Debian 12: the OpenCL loader and headers, PoCL (OpenCL on
# the CPU, so every machine has a device), CLBlast, clFFT, stb, Check, CMake, and OpenBLAS
# (optional: clssd-bench --compare-blas). With --test, also what the robustness checks of
# scripts/test.sh need: clang with libFuzzer (compiler-rt) and valgrind.
set -euo pipefail
pkgs=(build-essential ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo libclblast-dev
      clblast-utils libclfft-dev libstb-dev check cmake pkg-config libopenblas-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(clang libclang-rt-14-dev valgrind)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
