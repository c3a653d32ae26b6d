# The reference wallet. BASE_IMAGE defaults to the official Python image; machines without a registry pass
# a locally bootstrapped Debian base (`walletchaos images build --offline-base`), which gets python3 by apt.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates && rm -rf /var/lib/apt/lists/*; fi
RUN python3 -m venv /opt/wallet
COPY dockerfiles/wallet-requirements.txt /tmp/requirements.txt
# the build host's CA bundle (staged by `walletchaos images build`; empty when not needed)
COPY dockerfiles/.build/ca.crt /tmp/build-ca.crt
RUN if [ -s /tmp/build-ca.crt ]; then export PIP_CERT=/tmp/build-ca.crt; fi; \
    /opt/wallet/bin/pip install --no-cache-dir -r /tmp/requirements.txt && rm -f /tmp/build-ca.crt
COPY reference_wallet /app/reference_wallet
WORKDIR /app
ENV PATH=/opt/wallet/bin:$PATH PYTHONUNBUFFERED=1
ENTRYPOINT ["python", "-m", "reference_wallet"]
