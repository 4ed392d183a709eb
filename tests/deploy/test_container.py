"""The container files, checked without a Docker engine.

hadolint lints the Dockerfile; the Dockerfile, .dockerignore and docker-compose.yml are parsed
and checked for what the image and the stack must do (multi-stage, non-root, exec-form gunicorn,
healthchecks, the service wired to the sandbox container); the healthcheck commands themselves
are run against a real service and sandbox.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_service.config import Settings
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import ROOT, LiveService, Sandbox, free_port, service_env
from .manifests import compose, compose_environment, interpolate

GUNICORN_CMD = ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
SANDBOX_CMD = ["python", "-m", "billing_service.sandbox", "--host", "0.0.0.0", "--port", "9000"]


# --- Dockerfile parsing ----------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not pending and not line.strip()):
            continue  # Docker drops comment lines, even inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "FROM":
            stages.append([])
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            continue
        stages[-1].append((keyword, args))
    return stages


def _args(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _args(stage, "ENV"):
        for pair in shlex.split(args):
            name, sep, value = pair.partition("=")
            assert sep, f"ENV {args!r}: use the NAME=value form"
            env[name] = value
    return env


def _exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"not in exec (JSON) form: {args!r}"
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value)
    return value


def _copy_sources(stage: list[tuple[str, str]]) -> Iterator[tuple[str | None, str]]:
    """(--from stage or None, source) of every COPY/ADD."""
    for args in _args(stage, "COPY") + _args(stage, "ADD"):
        words = shlex.split(args)
        flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        for source in paths[:-1]:
            yield flags.get("from"), source


def _healthcheck_command(stage: list[tuple[str, str]]) -> list[str]:
    (args,) = _args(stage, "HEALTHCHECK")
    options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args!r}"
    return _exec_form(command.strip())


# --- hadolint --------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is not installed (the dev dependencies install it)")
        pytest.skip("hadolint is not installed")
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# --- Dockerfile ------------------------------------------------------------------------------


def test_multi_stage_on_one_pinned_slim_python_311() -> None:
    stages = _stages()
    assert len(stages) >= 2
    froms = [
        args
        for keyword, args in _instructions((ROOT / "Dockerfile").read_text())
        if keyword == "FROM"
    ]
    images = {args.split()[0] for args in froms}
    # One base for every stage, so the venv built in one runs in the other; a Debian slim tag
    # with the full Python version (optionally also pinned by digest).
    assert len(images) == 1, images
    (image,) = images
    assert re.fullmatch(
        r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", image
    ), image
    build_name = froms[0].split()[-1]
    assert froms[0].split()[1].upper() == "AS"
    # The runtime stage takes the installed venv from the build stage, and nothing else.
    runtime = stages[-1]
    from_stages = [stage for stage, _ in _copy_sources(runtime) if stage is not None]
    assert from_stages and set(from_stages) == {build_name}
    assert not any("pip " in args for args in _args(runtime, "RUN"))
    local = {src for stage, src in _copy_sources(runtime) if stage is None}
    assert local <= {"wsgi.py", "gunicorn.conf.py"}, local


def test_runtime_stage_declares_its_data_directory_a_volume() -> None:
    runtime = _stages()[-1]
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "BILLING_DATA_DIR=/data" in env
    assert any(keyword == "VOLUME" and "/data" in args for keyword, args in runtime)


def test_runtime_stage_runs_as_a_fixed_non_root_uid() -> None:
    users = _args(_stages()[-1], "USER")
    assert users, "the runtime stage has no USER"
    # Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]!r} is not a numeric uid[:gid]"
    assert int(match[1]) != 0 and match[2] != "0"


def test_runtime_stage_starts_gunicorn_in_exec_form_and_checks_healthz() -> None:
    runtime = _stages()[-1]
    (cmd,) = _args(runtime, "CMD")
    # Exec form: gunicorn is PID 1 and gets the SIGTERM of docker stop itself.
    assert _exec_form(cmd) == GUNICORN_CMD
    assert not _args(runtime, "ENTRYPOINT")
    assert set(_args(runtime, "STOPSIGNAL")) <= {"SIGTERM", "15"}  # gunicorn's graceful stop
    env = _env(runtime)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    exposed = " ".join(_args(runtime, "EXPOSE")).split()
    assert "8000" in exposed and env.get("PORT", "8000") == "8000"
    command = _healthcheck_command(runtime)
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2]


def test_image_holds_no_dev_tools_and_no_secrets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = _instructions(text)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = [
        re.split(r"[=<>~!\[ ]", req)[0]
        for req in pyproject["project"]["optional-dependencies"]["dev"]
    ]
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "[dev]" not in runs and "requirements-dev" not in runs
    for name in dev:
        assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", runs, re.I), name
    # Every pip install is held to constraints.txt, or installs the wheel without dependencies.
    for install in re.findall(r"pip install [^&]*", runs):
        assert (
            "--constraint constraints.txt" in install
            or "-c constraints.txt" in install
            or ("--no-deps" in install)
        ), install
    secret_name = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|_KEYS?$", re.I)
    for keyword, args in instructions:
        if keyword in ("ENV", "ARG"):
            for pair in shlex.split(args):
                assert not secret_name.search(pair.partition("=")[0]), f"{keyword} {pair}"


# --- .dockerignore ---------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus **) as a regex over clean paths."""
    pattern = posixpath.normpath(pattern.strip().lstrip("/"))
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for exception, regex in rules:  # the last rule matching the path or a parent wins
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not exception
    return ignored


def test_dockerignore_keeps_what_the_image_needs_and_nothing_local() -> None:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), _pattern(line.removeprefix("!"))))
    needed: list[str] = []
    for stage in _stages():
        for from_stage, source in _copy_sources(stage):
            if from_stage is None:
                needed.append(source)
                if (ROOT / source).is_dir():
                    needed += [
                        p.relative_to(ROOT).as_posix()
                        for p in (ROOT / source).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
                    ]
    assert "billing_service/sandbox/README.md" in needed  # package data
    assert [path for path in needed if _ignored(path, rules)] == []
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".env",
        "tests/test_container.py",
        "billing_service/__pycache__/app.cpython-311.pyc",
        "billing_service.egg-info/PKG-INFO",
        "test-output/x.png",
    ):
        assert _ignored(path, rules), path


# --- docker-compose.yml ----------------------------------------------------------------------


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", str(duration))
    assert match and duration, f"unreadable duration {duration!r}"
    hours, minutes, seconds = (float(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_compose_runs_the_service_and_the_sandbox_from_the_image() -> None:
    services = compose()["services"]
    billing, sandbox = services["billing"], services["sandbox"]
    for service in (billing, sandbox):
        build = service["build"]
        if isinstance(build, str):
            build = {"context": build}
        assert posixpath.normpath(build.get("context", ".")) == "."
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert billing.get("image") == sandbox.get("image")
    assert sandbox["command"][: len(SANDBOX_CMD)] == SANDBOX_CMD
    assert "command" not in billing and "entrypoint" not in billing  # the image's gunicorn CMD

    assert re.fullmatch(
        r"\$\{BILLING_API_KEYS:-[^}]+\}", str(billing["environment"]["BILLING_API_KEYS"])
    ), "BILLING_API_KEYS must be a ${BILLING_API_KEYS:-placeholder}"

    env = compose_environment(billing)
    assert env["IAMPORT_API_URL"] == "http://sandbox:9000"
    # Sandbox mode, asked for, with no credentials: the service uses the sandbox's defaults.
    assert env["BILLING_SANDBOX"] == "true"
    assert not env.get("IAMPORT_API_KEY") and not env.get("IAMPORT_API_SECRET")
    settings = Settings.from_env(env)  # the service would start with these
    assert settings.sandbox
    assert settings.iamport_api_url == "http://sandbox:9000"
    assert (settings.iamport_api_key, settings.iamport_api_secret) == (
        DEFAULT_API_KEY,
        DEFAULT_API_SECRET,
    )
    assert settings.callers, "the placeholder BILLING_API_KEYS must define a caller"

    ports = [interpolate(p, {}) for p in billing["ports"]]
    assert any(str(p).rsplit(":", 1)[-1] == "8000" for p in ports), ports
    depends = billing["depends_on"]
    assert depends["sandbox"]["condition"] == "service_healthy"


def test_compose_shares_state_through_a_persistent_redis_when_it_runs_one() -> None:
    parsed = compose()
    services = parsed["services"]
    if "redis" not in services:
        pytest.skip("no redis service")
    env = compose_environment(services["billing"])
    assert env["BILLING_STATE_URL"] == "redis://redis:6379/0"
    # Scaled up (compose up --scale billing=2), no replica may fall back to its own store.
    assert env["BILLING_REQUIRE_SHARED_STATE"] == "true"
    # Idempotency records and pending charges must survive a restart of Redis.
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(str(v).endswith(":/data") for v in services["redis"]["volumes"])
    # The service's data directory (embedded store, generated keys) is a volume too.
    assert env["BILLING_DATA_DIR"] == "/data"
    assert any(str(v).endswith(":/data") for v in services["billing"]["volumes"])
    assert set(parsed["volumes"]) >= {"billing-data", "redis-data"}
    assert env.get("BILLING_CARD_FINGERPRINT_KEY"), "replicas need one card fingerprint key"
    assert services["billing"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_healthchecks_and_stop_grace_period() -> None:
    services = compose()["services"]
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    # The service's check is the image's; the sandbox's is on the sandbox's port (the image's
    # own would probe 8000, where nothing listens in the sandbox container).
    assert services["billing"]["healthcheck"]["test"] == [
        "CMD",
        *_healthcheck_command(_stages()[-1]),
    ]
    assert "9000" in " ".join(services["sandbox"]["healthcheck"]["test"])
    # docker stop must wait longer than gunicorn lets requests in flight finish.
    env = {**compose_environment(services["billing"]), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    graceful_timeout = float(result.stdout.strip().splitlines()[-1])
    assert _seconds(services["billing"]["stop_grace_period"]) > graceful_timeout


# --- the healthcheck commands, run for real --------------------------------------------------


def _run_check(command: list[str], port: int | None = None) -> int:
    assert command[0] == "python"
    env = {"PATH": os.environ.get("PATH", "")}
    if port is not None:
        env["PORT"] = str(port)
    return subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30
    ).returncode


def test_image_healthcheck_passes_on_a_live_service_and_fails_without_one(
    sandbox: Sandbox,
) -> None:
    command = _healthcheck_command(_stages()[-1])
    service = LiveService(service_env(sandbox.url), workers=1)
    try:
        assert _run_check(command, service.port) == 0
    finally:
        service.stop()
    assert _run_check(command, free_port()) != 0


def test_sandbox_healthcheck_passes_on_a_running_sandbox(sandbox: Sandbox) -> None:
    port = sandbox.url.rsplit(":", 1)[-1]
    test = compose()["services"]["sandbox"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    command = [arg.replace("9000", port) for arg in test[1:]]
    assert _run_check(command) == 0
    assert _run_check([arg.replace("9000", str(free_port())) for arg in test[1:]]) != 0
