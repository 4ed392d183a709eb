"""The wheel ships the Lua scripts the Redis stores load as package data.

Built from a copy of the sources (a build writes build/ and *.egg-info beside what it builds),
offline (no build isolation: the venv's setuptools), installed into a directory of its own,
and imported from there only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LUA = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "billing_service").rglob("*.lua"))

# Each Redis store built in the installed copy: each reads its scripts when it is made (the
# client connects on first use, so no Redis is needed).
_CHECK = """
import sys
from importlib.resources import files
from pathlib import Path

import billing_service
from billing_service.events.outbox import SharedOutbox
from billing_service.state import SharedStore

installed = Path(sys.argv[1]).resolve()
assert Path(billing_service.__file__).resolve().is_relative_to(installed), billing_service.__file__
for path in sys.argv[2:]:
    package, name = path.rsplit("/lua/", 1)
    assert (files(package.replace("/", ".")) / "lua" / name).is_file(), path
SharedStore("redis://127.0.0.1:9")
SharedOutbox("redis://127.0.0.1:9").close()
"""


def test_the_wheel_ships_the_lua_scripts(tmp_path: Path) -> None:
    assert len(LUA) >= 7  # the stores' three, the outbox's four
    setuptools = version("setuptools")
    assert tuple(map(int, setuptools.split(".")[:2])) >= (70, 1), (
        f"setuptools {setuptools} builds no wheel by itself: install the dev extra (make)"
    )
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "billing_service",
        source / "billing_service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    wheels, installed = tmp_path / "wheels", tmp_path / "installed"
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
        check=True,
        cwd=tmp_path,
        timeout=60,
    )
    (wheel,) = wheels.glob("billing_service-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(installed), str(wheel)],
        check=True,
        cwd=tmp_path,
        timeout=60,
    )
    subprocess.run(
        [sys.executable, "-c", _CHECK, str(installed), *LUA],
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
