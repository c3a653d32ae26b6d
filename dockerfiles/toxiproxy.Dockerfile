# The real Shopify Toxiproxy server, the binary `make setup` built from its Go module (v2.12.0).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY tools/bin/toxiproxy-server /usr/local/bin/toxiproxy-server
ENTRYPOINT ["/usr/local/bin/toxiproxy-server"]
