#!/usr/bin/env bash
# Idempotent set-up of the docker runtime: Debian's docker.io and debootstrap, a running engine
# (dockerd --bridge=none --iptables=false: containers use host networking on 127.0.0.1), and the
# walletchaos images, built on a locally bootstrapped Debian base when no registry is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1m[setup-docker]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

ping_engine() { curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
if ! ping_engine; then
  log "starting dockerd --bridge=none --iptables=false (log: /var/log/walletchaos-dockerd.log)"
  $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/walletchaos-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do ping_engine && break; sleep 0.5; done
  ping_engine || { log "dockerd did not start; see /var/log/walletchaos-dockerd.log"; tail -n 20 /var/log/walletchaos-dockerd.log; exit 1; }
fi

stamp_src=$(cat dockerfiles/*.Dockerfile dockerfiles/*.sh dockerfiles/*.txt reference_wallet/*.py reference_wallet/sql/*.sql tools/bin/.toxiproxy-* tools/bin/.gowallet-* 2>/dev/null | sha256sum | cut -c1-16)
have_all=1
for image in walletchaos/wallet walletchaos/postgres walletchaos/toxiproxy walletchaos/haproxy walletchaos/gowallet; do
  [ -n "$(curl -fsS --unix-socket /var/run/docker.sock "http://localhost/images/json?filters=%7B%22reference%22%3A%5B%22$image%22%5D%7D" | tr -d '[]')" ] || have_all=0
done
if [ "$have_all" = 0 ] || [ ! -f "tools/.images-$stamp_src" ]; then
  log "building images (offline Debian base: no registry is assumed)"
  .venv/bin/walletchaos images build --offline-base
  rm -f tools/.images-* && touch "tools/.images-$stamp_src"
fi
log "docker runtime ready"
