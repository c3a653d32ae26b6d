# The example Go wallet (examples/wallets/gowallet) as a user's own wallet image: configured only by its
# environment (HOST, PORT, DATABASE_URL, ADMIN_TOKEN), as `wallet.image` starts it. `make setup` built the
# static binary.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY tools/bin/gowallet /usr/local/bin/gowallet
ENTRYPOINT ["/usr/local/bin/gowallet"]
