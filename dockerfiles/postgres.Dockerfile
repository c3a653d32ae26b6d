# PostgreSQL 15. BASE_IMAGE defaults to the official image; a bootstrapped Debian base gets Debian's
# postgresql-15 by apt. Either way the entrypoint starts a fresh cluster on $PGPORT (host networking).
ARG BASE_IMAGE=postgres:15-bookworm
FROM ${BASE_IMAGE}
RUN if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
      && rm -rf /var/lib/apt/lists/*; fi
COPY dockerfiles/postgres-entrypoint.sh /usr/local/bin/walletchaos-postgres
RUN chmod 0755 /usr/local/bin/walletchaos-postgres
ENTRYPOINT ["/usr/local/bin/walletchaos-postgres"]
