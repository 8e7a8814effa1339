"""Helpers of the packaging system tests: build packages, a cached Debian 12 root file
system, booting it under systemd-nspawn. All of it needs root (CI runs as root)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LUXLOGD_TEST_CACHE", "/var/cache/luxlogd-tests"))
# python3 for the package, procps for `kill`, man-db so `man luxlogd` and the units'
# Documentation= lines can be checked.
ROOTFS_PACKAGES = (
    "systemd,systemd-sysv,dbus,python3,procps,man-db,"
    "mosquitto,mosquitto-clients,python3-paho-mqtt"
)  # the MQTT step


def require_root(what: str) -> None:
    """Skip without root, except in CI (which runs as root): there a skip would hide a
    package that no longer installs."""
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip(f"{what} needs root (CI runs as root and never skips this)")


def debian_mirror() -> str:
    """The machine's own Debian mirror, from its apt sources (never a hard-coded host)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            match = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
            if match:
                return match.group(1)
    raise RuntimeError("no Debian mirror in /etc/apt/sources.list(.d)")


def rootfs_tarball() -> Path:
    """A debootstrapped bookworm (minbase + ROOTFS_PACKAGES) as a tarball, cached."""
    key = hashlib.sha256(ROOTFS_PACKAGES.encode()).hexdigest()[:12]
    tarball = CACHE / f"bookworm-{key}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"rootfs-{key}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={ROOTFS_PACKAGES}",
            "bookworm",
            str(work),
            debian_mirror(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(work), "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(work, ignore_errors=True)
    return tarball


def unpack_rootfs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(directory), "-xf", str(rootfs_tarball())], check=True)
    return directory


def build(target: str, out: Path, version: str | None = None) -> Path:
    command = [sys.executable, str(REPO / "packaging" / "build"), target, "--out", str(out)]
    if version:
        command += ["--version", version]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _nspawn_propagation_dir() -> None:
    """nspawn refuses to clean up /run/systemd/nspawn on a disk file system (no host
    systemd here puts a tmpfs on /run); give it one."""
    path = Path("/run/systemd/nspawn")
    path.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(path):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], check=True)


def boot(root: Path, script: Path, timeout: float) -> str:
    """Boot `root` with systemd as PID 1; `script` runs from a unit wanted by
    multi-user.target and powers the container off. Returns the console log."""
    _nspawn_propagation_dir()
    target = root / "root" / script.name
    shutil.copy(script, target)
    unit = root / "etc/systemd/system/scenario.service"
    unit.write_text(
        "[Unit]\nDescription=luxlogd system test scenario\n"
        f"[Service]\nType=simple\nExecStart=/usr/bin/python3 /root/{script.name}\n"
        "StandardOutput=journal+console\nStandardError=journal+console\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "scenario.service").symlink_to("/etc/systemd/system/scenario.service")
    done = subprocess.run(
        ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet", "-D", str(root), "-b"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.stdout + done.stderr


PODMAN_CONF = """\
# The settings that let podman run on this machine kind (no systemd, no Docker engine).
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def podman_env(directory: Path) -> dict[str, str]:
    """Environment for podman with our own containers.conf (the machine's is left alone)."""
    conf = directory / "containers.conf"
    conf.write_text(PODMAN_CONF)
    return dict(os.environ, CONTAINERS_CONF=str(conf))


def import_base_image(env: dict[str, str], name: str = "localhost/luxlogd-test-base") -> str:
    """The debootstrapped rootfs as a base image (no registry is reachable here)."""
    subprocess.run(
        [
            "podman",
            "import",
            "--change",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            str(rootfs_tarball()),
            name,
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return name
