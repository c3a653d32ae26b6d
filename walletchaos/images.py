"""``walletchaos images build [--offline-base]``: the wallet, PostgreSQL and Toxiproxy images, and the
example Go wallet as a user's own image (``walletchaos/gowallet``, for ``wallet.image``).

By default the Dockerfiles start from the official images (python, postgres, debian), which needs a
registry. ``--offline-base`` first bootstraps a Debian base locally (debootstrap from the machine's own
Debian mirror, then ``docker import``) and passes it as BASE_IMAGE, for machines without a registry.
Builds use host networking: the engine runs with --bridge=none, and RUN steps reach apt and PyPI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .errors import InfraError
from .stack.containers import EXAMPLE_IMAGES, IMAGES, engine
from .stack.toxiproxy import PROJECT_ROOT

OFFLINE_BASE = "walletchaos/debian-base:bookworm"


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for bookworm (the package registry that is reachable)."""
    files = [
        Path("/etc/apt/sources.list"),
        *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
        *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
    ]
    for path in files:
        text = path.read_text() if path.is_file() else ""
        for uri, suite in re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if suite == "bookworm":
                return str(uri)
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and "bookworm" in suites.group(1).split():
                return uris.group(1)
    return "http://deb.debian.org/debian"


def bootstrap_base(client: Any, log: Any = print) -> str:
    if client.images.list(name=OFFLINE_BASE):
        return OFFLINE_BASE
    if shutil.which("debootstrap") is None:
        raise InfraError("debootstrap not found: run `make setup-docker` (installs it)")
    with tempfile.TemporaryDirectory(prefix="walletchaos-rootfs-") as root:
        log(f"debootstrap bookworm from {debian_mirror()} (a few minutes)")
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", root, debian_mirror()],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise InfraError(f"debootstrap failed: {(done.stderr + done.stdout).strip()[-500:]}")
        archive = Path(root + ".tar")
        try:
            subprocess.run(["tar", "-C", root, "-cf", str(archive), "."], check=True)
            client.api.import_image_from_file(
                str(archive), repository=OFFLINE_BASE.split(":")[0], tag="bookworm"
            )
        finally:
            archive.unlink(missing_ok=True)
    log(f"imported {OFFLINE_BASE}")
    return OFFLINE_BASE


def _stage_build_ca() -> None:
    """RUN steps trust the same CAs as this host's pip (PIP_CERT or the system bundle): where package
    traffic passes a TLS-inspecting gateway, a bare base image would not trust it."""
    staged = PROJECT_ROOT / "dockerfiles/.build/ca.crt"
    staged.parent.mkdir(exist_ok=True)
    source = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    staged.write_bytes(source.read_bytes() if source.is_file() else b"")


def build(offline_base: bool, log: Any = print) -> dict[str, str]:
    client = engine()
    base = bootstrap_base(client, log) if offline_base else None
    for binary in ("toxiproxy-server", "gowallet"):
        if not (PROJECT_ROOT / "tools/bin" / binary).is_file():
            raise InfraError(f"tools/bin/{binary} missing: run `make setup` first")
    _stage_build_ca()
    built = {}
    for role, tag in {**IMAGES, **EXAMPLE_IMAGES}.items():
        log(f"building {tag}")
        args = {"BASE_IMAGE": base} if base else {}
        try:
            image, _ = client.images.build(
                path=str(PROJECT_ROOT),
                dockerfile=f"dockerfiles/{role}.Dockerfile",
                tag=tag,
                buildargs=args,
                network_mode="host",
                rm=True,
                forcerm=True,
            )
        except Exception as exc:
            raise InfraError(f"building {tag} failed: {exc}") from exc
        built[tag] = image.short_id
    return built
