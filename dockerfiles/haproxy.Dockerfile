# HAProxy 2.6, the balancer in front of the replicas (wallet.balancer: haproxy). BASE_IMAGE defaults to the
# official image; a bootstrapped Debian base gets Debian's haproxy package by apt. The harness passes the
# whole configuration in $HAPROXY_CONFIG (host networking, loopback ports chosen per run).
ARG BASE_IMAGE=haproxy:2.6-bookworm
FROM ${BASE_IMAGE}
USER root
RUN if ! command -v haproxy >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
      && rm -rf /var/lib/apt/lists/*; fi
ENTRYPOINT ["/bin/sh", "-c", "printf '%s\\n' \"$HAPROXY_CONFIG\" > /tmp/haproxy.cfg && exec haproxy -db -f /tmp/haproxy.cfg"]
