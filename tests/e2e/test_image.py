"""The Docker image, built and run for real on this machine's Docker engine.

`make image` builds it (where no image registry answers, on a Debian base it builds itself); it runs
as its non-root user with git, ssh, tini and a bubblewrap that confines under exactly the security
options docker-compose.yml gives the workers (and not without them); `docker-compose config`
accepts docker-compose.yml; and one `baton serve` and two `baton worker` containers on the machine's
PostgreSQL take a signed GitHub request from the GitHub stand-in on loopback to a merged PR whose
agent step ran inside bubblewrap. Every container is removed afterwards, passed or failed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.store.store import Store, make_engine
from tests.e2e.image_support import (
    BATON_UID,
    COMPOSE,
    Containers,
    build_image,
    own_for_container,
    worker_security_options,
)
from tests.e2e.postgres_support import fresh_database
from tests.e2e.scale_support import free_port, until
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_stack import SECRET
from tests.fakes.github_webhooks import Webhooks
from tests.gitutil import read_file_on

PROBE = Path(__file__).parent / "tools" / "sandbox_probe.py"
PROBE_IN_CONTAINER = "/opt/baton-test/sandbox_probe.py"
# What an agent with `isolation: bwrap` runs under (bot/agents/sandbox.py), less the binds.
BATON_SANDBOX = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
BATON_SANDBOX += ["--unshare-all", "--die-with-parent"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_image(tmp_path_factory.mktemp("image") / "make-image.log")


@pytest.fixture
def containers(image: str) -> Iterator[Containers]:
    started = Containers(image)
    try:
        yield started
    finally:
        started.remove_all()


def test_the_image_runs_as_its_non_root_user_with_git_ssh_bubblewrap_and_tini(containers: Containers) -> None:
    script = "id -u; id -g; git --version; ssh -V 2>&1; for p in bwrap tini baton; do command -v $p; done"
    done = containers.run("sh", "-c", script)
    assert done.returncode == 0, done.stderr
    uid, gid, git, ssh, bwrap, tini, baton = done.stdout.splitlines()
    assert (uid, gid) == (str(BATON_UID), str(BATON_UID))
    assert git.startswith("git version ") and ssh.startswith("OpenSSH_")
    assert (bwrap, tini, baton) == ("/usr/bin/bwrap", "/usr/bin/tini", "/opt/baton/bin/baton")


@pytest.mark.parametrize(
    "sandbox",
    [["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"], [*BATON_SANDBOX, "true"]],
    ids=["namespaces", "batons-sandbox"],
)
def test_bubblewrap_confines_in_the_container_with_the_options_compose_gives_the_workers(
    containers: Containers, sandbox: list[str]
) -> None:
    done = containers.run(*sandbox, options=tuple(worker_security_options()))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("dropped", "refusal"),
    [
        ("seccomp=unconfined", "No permissions to create new namespace"),  # unshare(CLONE_NEWUSER)
        ("systempaths=unconfined", "Can't mount proc"),  # Docker's masked /proc paths
    ],
)
def test_without_one_of_those_options_docker_refuses_batons_sandbox(
    containers: Containers, dropped: str, refusal: str
) -> None:
    options = worker_security_options()
    at = options.index(dropped)
    done = containers.run(*BATON_SANDBOX, "true", options=tuple(options[: at - 1] + options[at + 1 :]))
    assert done.returncode != 0
    assert refusal in done.stderr


def test_docker_compose_accepts_the_compose_file_beside_a_baton_yml_and_baton_env(tmp_path: Path) -> None:
    program = shutil.which("docker-compose")
    if program is None:
        pytest.fail("docker-compose is not installed: docker/engine.sh installs Debian's", pytrace=False)
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    (tmp_path / "baton.yml").write_text("repos: []\n")
    (tmp_path / "baton.env").write_text("")
    done = subprocess.run(
        [program, "config"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "stand-in"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert sorted(services) == ["baton", "postgres", "worker-1", "worker-2"]
    assert services["worker-2"]["security_opt"] == services["worker-1"]["security_opt"]


# -- serve + two workers on PostgreSQL, one GitHub request to a merge ----------------------------------
@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[FakeGitHub, Path]]:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.grant("acme/api", "alice", "write")
    fake.grant("acme/api", "maya", "maintain")
    try:
        yield fake, remotes["api"]
    finally:
        fake.stop()


def _run_state(store: Store, run_id: str) -> RunState | None:
    run = store.get_run(run_id)
    assert run is None or run.state not in (RunState.failed, RunState.cancelled), run.state
    return None if run is None else run.state


@pytest.mark.postgres
def test_serve_and_two_worker_containers_merge_a_github_request_whose_agent_ran_confined(
    tmp_path: Path, database_url: str, github: tuple[FakeGitHub, Path], containers: Containers
) -> None:
    fake, remote = github
    own_for_container(remote.parent)
    url = f"http://127.0.0.1:{free_port()}"
    config = config_dict({"api": remote})
    probe = [*("python3", PROBE_IN_CONTAINER, "--out", "probe.txt", "--list", "/data")]
    probe += ["--read", "/app/baton.yml", "--connect", f"{url}/healthz"]
    config["agents"] = [{"name": "probe", "kind": "script", "command": probe, "isolation": "bwrap", "timeout_s": 60}]
    config["routing"] = {"default_agent": "probe"}
    config["approval"] = {"require_green_checks": False}
    (tmp_path / "baton.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "baton.env").write_text(
        f"BATON_DATABASE_URL={database_url}\nGITHUB_WEBHOOK_SECRET={SECRET}\n"
        f"GITHUB_TOKEN={TOKEN}\nGITHUB_API_URL={fake.url}\n"
    )
    # No image health check: on the host's network it would probe the host's port 8000, not Baton's.
    shared = ("--no-healthcheck", "--env-file", str(tmp_path / "baton.env"))
    shared += ("-v", f"{tmp_path / 'baton.yml'}:/app/baton.yml:ro")
    shared += ("-v", f"{remote.parent}:{remote.parent}")  # the bare remotes, where baton.yml says
    serve = containers.start(
        "serve", "baton", "serve", "--host", "127.0.0.1", "--port", url.rsplit(":")[-1], options=shared
    )
    worker = (*shared, *worker_security_options(), "-v", f"{PROBE}:{PROBE_IN_CONTAINER}:ro")
    workers = [containers.start(f"worker-{n}", "baton", "worker", options=worker) for n in (1, 2)]
    engine = make_engine(Settings(database_url=database_url).store_url)
    store = Store(engine)
    try:
        until("serve to answer /readyz", lambda: _answers(containers, serve, f"{url}/readyz"), timeout=120)
        until("both workers to heartbeat", lambda: len(store.executors()) == 2, timeout=120)

        hooks = Webhooks(fake, f"{url}/github/webhook", SECRET, outcomes=store.intake_outcome)
        issue = fake.open_issue("acme/api", "Probe the sandbox", "What can an agent here reach?", "alice")
        asked = fake.add_comment("acme/api", issue, "@baton add a probe report", "alice")
        answer = hooks.send("issue_comment", hooks.issue_comment("acme/api", issue, asked.id))
        assert answer.status_code == 200, answer.text
        run_id = str(answer.json()["run_id"])
        until("the run to await approval", lambda: _run_state(store, run_id) is RunState.awaiting_approval, 180)
        approval = fake.add_comment("acme/api", issue, "/baton approve", "maya")
        answer = hooks.send("issue_comment", hooks.issue_comment("acme/api", issue, approval.id))
        assert answer.status_code == 200, answer.text
        until("the run to merge", lambda: _run_state(store, run_id) is RunState.merged, 120)
    finally:
        engine.dispose()

    [pull] = fake.pulls("acme/api")
    assert pull.merged and pull.head.split("/")[1] == run_id
    assert len(fake.calls("PUT", r"/repos/acme/api/pulls/\d+/merge$")) == 1
    # The agent's findings, merged: Baton's home shows only what the sandbox binds, the mounted
    # baton.yml is masked, and the served port is out of reach (no network in the sandbox).
    assert read_file_on(remote, "main", "probe.txt").splitlines() == [
        "read /app/baton.yml: denied (PermissionError)",
        "list /data: got ['homes', 'workspaces']",
        f"connect {url}/healthz: denied (URLError)",
    ]
    for path in ("/healthz", "/readyz"):
        assert httpx.get(f"{url}{path}", timeout=10).status_code == 200
    for name in (serve, *workers):
        assert containers.process_uids(name) == {BATON_UID}


def _answers(containers: Containers, name: str, endpoint: str) -> bool:
    assert containers.running(name), f"{name} exited:\n{containers.logs(name)}"
    try:
        return httpx.get(endpoint, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
