#!/usr/bin/env bash
# Idempotent set-up for walletchaos on a fresh Debian machine. `--with-browser` adds Debian's chromium,
# `--with-bench` adds wrk (the load generator of bench/wallet_vs_pgbench.py).
#   - Debian packages: PostgreSQL server (the local runtime starts throwaway clusters from it)
#   - the real Shopify Toxiproxy server, built from its Go module with the machine's Go toolchain,
#     installed as tools/bin/toxiproxy-server (project-local)
#   - the example Go wallet (examples/wallets/gowallet), built as tools/bin/gowallet
#   - the Python virtualenv in .venv with the project installed editable (pinned versions)
# Each step checks first and does nothing when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOXIPROXY_VERSION=v2.12.0
PY=${PYTHON:-python3}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

WITH_BROWSER=0  # make test: report.html is checked in headless Chromium
WITH_BENCH=0    # make bench
for arg in "$@"; do
  case "$arg" in
    --with-browser) WITH_BROWSER=1 ;;
    --with-bench) WITH_BENCH=1 ;;
    *) echo "setup.sh: unknown option $arg (--with-browser, --with-bench)" >&2; exit 2 ;;
  esac
done

need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need_apt+=(postgresql)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ "$WITH_BROWSER" = 1 ] && ! command -v chromium >/dev/null 2>&1 && need_apt+=(chromium)
[ "$WITH_BENCH" = 1 ] && ! command -v wrk >/dev/null 2>&1 && need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# `go install` builds without the release ldflags, so the binary reports "git": a stamp records the version.
if [ ! -x tools/bin/toxiproxy-server ] || [ ! -f "tools/bin/.toxiproxy-${TOXIPROXY_VERSION}" ]; then
  log "building Toxiproxy ${TOXIPROXY_VERSION} from its Go module"
  mkdir -p tools/bin tools/gopath
  GOPATH="$ROOT/tools/gopath" GOBIN="$ROOT/tools/gopath/bin" GOFLAGS=-modcacherw \
    go install "github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}"
  install -m 0755 tools/gopath/bin/server tools/bin/toxiproxy-server
  rm -f tools/bin/.toxiproxy-* && touch "tools/bin/.toxiproxy-${TOXIPROXY_VERSION}"
fi

# The independent example wallet: rebuilt whenever its sources change.
gowallet_stamp=tools/bin/.gowallet-$(cat examples/wallets/gowallet/*.go examples/wallets/gowallet/*.sql \
  examples/wallets/gowallet/go.* | sha256sum | cut -c1-16)
if [ ! -x tools/bin/gowallet ] || [ ! -f "$gowallet_stamp" ]; then
  log "building the example Go wallet (examples/wallets/gowallet)"
  mkdir -p tools/bin tools/gopath
  (cd examples/wallets/gowallet && GOPATH="$ROOT/tools/gopath" GOFLAGS=-modcacherw CGO_ENABLED=0 \
    go build -trimpath -o "$ROOT/tools/bin/gowallet" .)  # static: it also runs in the example image
  rm -f tools/bin/.gowallet-* && touch "$gowallet_stamp"
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "creating .venv and installing walletchaos (editable, pinned dependencies)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # build-backend chatter goes to a log; shown only when the install fails
  .venv/bin/pip install -q -e '.[dev]' >.venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
log "ready: toxiproxy ${TOXIPROXY_VERSION}, gowallet, $("$pg_bin/postgres" --version 2>/dev/null || echo postgres), $(.venv/bin/python --version)"
