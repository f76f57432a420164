#!/usr/bin/env bash
# Installs what eaas needs on a Debian/Ubuntu machine with Node 20: nats-server, the npm packages, the build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing nats-server with apt-get" >&2
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >&2
  # the package enables a system service we do not use: eaas starts its own servers
  $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # not `npm ci`: it rejects our lock file, which lacks the optional per-platform packages of
  # msgpackr-extract that this registry does not serve; `npm install` keeps the lock as it is
  npm install --no-audit --no-fund >&2
fi
npm run --silent build >&2
