#!/usr/bin/env bash
# Installs what eaas needs on a Debian/Ubuntu machine with Node 20: nats-server, the npm packages, the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# --with-test-tools: also what the test suite drives: a real Prometheus scrapes the API front, PyTorch checks the
# shipped model's forward pass independently (ops/train/check.py), a dictionary judges its English, Chromium
# shows the dashboard to puppeteer-core, iproute2 makes the emulated hosts (network namespaces, tc)
# openssl makes the CA and certificates of `eaas up --secure`
PACKAGES=(nats-server openssl)
if [ "${1:-}" = "--with-test-tools" ]; then PACKAGES+=(prometheus python3-torch wamerican chromium iproute2); fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if dpkg -s "$pkg" >/dev/null 2>&1 || command -v "$pkg" >/dev/null 2>&1 || [ -x "/usr/sbin/$pkg" ]; then continue; fi
  missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing ${missing[*]} with apt-get" >&2
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
  # the packages enable system services we do not use: eaas and its tests start their own servers
  for pkg in "${missing[@]}"; do $SUDO systemctl disable --now "$pkg" >/dev/null 2>&1 || true; done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # not `npm ci`: it rejects our lock file, which lacks the optional per-platform packages of
  # msgpackr-extract that this registry does not serve; `npm install` keeps the lock as it is
  # package.json's allowScripts denies the dependencies' install scripts (npm 11 blocks unlisted ones anyway);
  # for an older npm that runs them, the variable keeps onnxruntime-node from downloading CUDA libraries
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >&2
fi
npm run --silent build >&2
