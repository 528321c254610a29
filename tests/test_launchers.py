"""The launchers: ``CommandLauncher`` with real subprocesses, ``SpaceLauncher`` against the Hub stand-in
(the real ``huggingface_hub`` client over real HTTP). Nothing is mocked."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import TOKEN
from support.hubstub import HubStub

from orchestrator import redact
from orchestrator.config.settings import HubConfig
from orchestrator.config.targets import CommandTarget, SpaceTarget
from orchestrator.errors import AuthError, HubError, LaunchError
from orchestrator.launch import command as launch_command
from orchestrator.launch import launcher_for
from orchestrator.launch import protocol as launch_protocol
from orchestrator.launch.command import CommandLauncher
from orchestrator.launch.protocol import Launched
from orchestrator.launch.space import SpaceLauncher
from orchestrator.remote.hub import Hub
from orchestrator.state.records import Action

PY = sys.executable
CLEAN_ENV = {"PATH": os.environ.get("PATH", ""), "KEPT_FROM_PARENT": "yes"}


def python(script: str, *args: str, timeout: float = 30.0, cwd: str | None = None) -> CommandTarget:
    """A command running ``script``; scripts here hold no braces, which launch() would take for placeholders."""
    return CommandTarget(command=(PY, "-c", script, *args), timeout=timeout, cwd=cwd)


def describe(target: CommandTarget) -> str:
    return "command " + " ".join(target.command)


RETRAIN = Action("retrain", ("department",), key="retrain:department:v20250101_000000_abcdef", version="v20250101_000000_abcdef")
PREPARE = Action("prepare", ("department", "urgency"), key="prepare:run-1")


# ---------------------------------------------------------------------------------------------- commands
def test_success_returns_exit_0_and_the_output_of_both_streams() -> None:
    target = python("import sys; print('out 1'); print('out 2'); sys.stderr.write('err 1\\n')")
    launched = CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert launched == Launched(describe(target), "exit 0", "exit 0", ("out 1", "out 2", "err 1"))


def test_output_keeps_only_the_last_lines() -> None:
    target = python("for i in range(1, 26): print('line %d' % i)")
    launched = CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert launch_command.OUTPUT_TAIL_LINES == 20
    assert launched.output == tuple(f"line {i}" for i in range(6, 26))


REPORT = """
import json, os, sys
names = ("ORCHESTRATOR_JOB", "ORCHESTRATOR_LABELS", "ORCHESTRATOR_KEY", "DATASET_VERSION", "KEPT_FROM_PARENT")
print(json.dumps(dict(argv=sys.argv[1:], env=dict((n, os.environ.get(n)) for n in names), cwd=os.getcwd())))
"""


def test_placeholders_are_filled_and_the_job_is_in_the_environment() -> None:
    target = python(REPORT, "--label={label}", "{labels}", "data@{version}", "plain")
    launched = CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    report = json.loads(launched.output[0])
    assert report["argv"] == ["--label=department", "department", "data@v20250101_000000_abcdef", "plain"]
    assert report["env"] == {
        "ORCHESTRATOR_JOB": "retrain",
        "ORCHESTRATOR_LABELS": "department",
        "ORCHESTRATOR_KEY": "retrain:department:v20250101_000000_abcdef",
        "DATASET_VERSION": "v20250101_000000_abcdef",
        "KEPT_FROM_PARENT": "yes",
    }
    # what was launched, with the placeholders filled
    assert launched.target == "command " + " ".join([*target.command[:3], "--label=department", "department",
                                                     "data@v20250101_000000_abcdef", "plain"])


def test_a_job_of_several_labels_without_a_version(tmp_path: Path) -> None:
    target = python(REPORT, "{label}", "{labels}", "v={version}", cwd=str(tmp_path))
    report = json.loads(CommandLauncher(target, CLEAN_ENV).launch(PREPARE).output[0])
    assert report["argv"] == ["department,urgency", "department,urgency", "v="]
    assert report["env"] == {
        "ORCHESTRATOR_JOB": "prepare",
        "ORCHESTRATOR_LABELS": "department,urgency",
        "ORCHESTRATOR_KEY": "prepare:run-1",
        "DATASET_VERSION": None,
        "KEPT_FROM_PARENT": "yes",
    }
    assert report["cwd"] == str(tmp_path)


def test_a_non_zero_exit_names_the_status_and_the_last_lines() -> None:
    target = python("import sys\nfor i in range(1, 9): print('line %d' % i)\nsys.stderr.write('boom\\n'); sys.exit(3)")
    with pytest.raises(LaunchError) as caught:
        CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert caught.value.message == f"{describe(target)} exited with status 3:\nline 5\nline 6\nline 7\nline 8\nboom"
    assert caught.value.hint == "read the command's output above"


def test_a_non_zero_exit_without_output() -> None:
    target = python("import sys; sys.exit(4)")
    with pytest.raises(LaunchError) as caught:
        CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert caught.value.message == f"{describe(target)} exited with status 4"


def test_a_command_that_outlives_its_timeout_is_stopped() -> None:
    target = CommandTarget(command=(PY, "-c", "import time; time.sleep(5)"), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(LaunchError) as caught:
        CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert time.monotonic() - started < 3.0  # it did not wait the 5 s out
    assert caught.value.message.startswith(f"{describe(target)}: still running after ")
    assert caught.value.message.endswith("s and was stopped")
    assert caught.value.hint == "raise the target's timeout in the TOML file"
    assert "timeout" in str(caught.value)


def test_the_timeout_message_shows_the_configured_timeout() -> None:
    target = CommandTarget(command=(PY, "-c", "import time; time.sleep(5)"), timeout=0.5)
    with pytest.raises(LaunchError) as caught:
        CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert "still running after 0.5s" in caught.value.message


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_timed_out_command_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    grandchild = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(30)"
    parent = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {grandchild!r}, sys.argv[1]]); time.sleep(30)"
    target = CommandTarget(command=(PY, "-c", parent, str(pid_file)), timeout=1.0)
    pid = None
    try:
        with pytest.raises(LaunchError):
            CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
        deadline = time.monotonic() + 5
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 1
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _running(pid), "the command's child still runs after the command 'was stopped'"
    finally:
        if pid is not None and _running(pid):
            os.kill(pid, signal.SIGKILL)  # the test's own grandchild, by its id


def test_a_missing_program_fails_the_preflight() -> None:
    target = CommandTarget(command=("orchestrator-no-such-program-5b1f",))
    launcher = CommandLauncher(target, CLEAN_ENV)
    with pytest.raises(LaunchError) as caught:
        launcher.check()
    assert caught.value.message == (
        "command orchestrator-no-such-program-5b1f: program 'orchestrator-no-such-program-5b1f' not found or not executable"
    )
    with pytest.raises(LaunchError) as launched:
        launcher.launch(RETRAIN)
    assert "program 'orchestrator-no-such-program-5b1f' not found" in launched.value.message


def test_the_preflight_searches_the_launchers_path(tmp_path: Path) -> None:
    CommandLauncher(CommandTarget(command=(PY, "-V")), CLEAN_ENV).check()  # an absolute path
    CommandLauncher(CommandTarget(command=("sh", "-c", "true")), CLEAN_ENV).check()  # found on PATH
    with pytest.raises(LaunchError, match="program 'sh' not found"):
        CommandLauncher(CommandTarget(command=("sh", "-c", "true")), {"PATH": str(tmp_path)}).check()


def test_the_preflight_finds_a_relative_program_in_the_targets_cwd(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    launcher = CommandLauncher(CommandTarget(command=("./job.sh",), cwd=str(tmp_path)), CLEAN_ENV)
    assert launcher.launch(RETRAIN).output == ("ran",)  # launch() finds it
    launcher.check()  # so must the preflight


def test_a_registered_secret_printed_by_the_command_is_masked() -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    redact.register(secret)
    target = python("import sys; print('password=' + sys.argv[1]); sys.stderr.write(sys.argv[1] + ' again\\n')", secret)
    launched = CommandLauncher(target, CLEAN_ENV).launch(RETRAIN)
    assert launched.output == ("password=***", "*** again")
    failing = python("import sys; print('password=' + sys.argv[1]); sys.exit(1)", secret)
    with pytest.raises(LaunchError) as caught:
        CommandLauncher(failing, CLEAN_ENV).launch(RETRAIN)
    assert caught.value.message.endswith("exited with status 1:\npassword=***")
    assert secret not in caught.value.message.split(" exited with")[1]


def test_a_hub_token_in_the_output_is_masked_even_unregistered() -> None:
    target = python("print('token hf_' + 'Zx9' * 8 + ' used')")
    assert CommandLauncher(target, CLEAN_ENV).launch(RETRAIN).output == ("token *** used",)


def test_literal_braces_in_an_argument_pass_through() -> None:
    target = CommandTarget(command=("sh", "-c", "echo ${KEPT_FROM_PARENT} {label}"))
    assert CommandLauncher(target, CLEAN_ENV).launch(RETRAIN).output == ("yes department",)


def test_stdout_without_a_final_newline_stays_its_own_line() -> None:
    target = python("import sys; sys.stdout.write('50% done'); sys.stderr.write('warning: slow\\n')")
    assert CommandLauncher(target, CLEAN_ENV).launch(RETRAIN).output == ("50% done", "warning: slow")


def test_a_command_has_no_evidence_of_an_unrecorded_launch() -> None:
    launcher = CommandLauncher(python("print(1)"), CLEAN_ENV)
    assert launcher.evidence(PREPARE, 0.0).sent is False
    assert launcher.evidence(PREPARE, 10_000.0).sent is False


def test_launcher_for_picks_the_class_by_target_kind(stub: HubStub) -> None:
    hub = Hub(HubConfig(endpoint=stub.url, token=TOKEN, backoff=0.01))
    command = launcher_for(CommandTarget(command=("true",)), hub)
    space = launcher_for(SpaceTarget(space="owner/prepare"), hub)
    assert type(command) is CommandLauncher and command.describe() == "command true"
    assert type(space) is SpaceLauncher and space.describe() == "Space owner/prepare"


# ---------------------------------------------------------------------------------------------- Spaces
@pytest.fixture
def hub(stub: HubStub) -> Hub:
    return Hub(HubConfig(endpoint=stub.url, token=TOKEN, backoff=0.01))


def test_space_check_passes_for_an_existing_space_without_restarting_it(stub: HubStub, hub: Hub) -> None:
    SpaceLauncher(SpaceTarget(space="owner/prepare"), hub).check()
    SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub).check()
    assert stub.restarts("owner/prepare") == 0
    # whoami once (it is rate-limited), the runtime of each Space
    assert [(r.method, r.path) for r in stub.requests] == [
        ("GET", "/api/spaces/owner/prepare/runtime"),
        ("GET", "/api/whoami-v2"),
        ("GET", "/api/spaces/owner/retrain_dept/runtime"),
    ]


@pytest.mark.parametrize(
    ("access", "fragment"),
    [
        ({"role": "read"}, "HF_TOKEN is a read token of owner; restarting space owner/prepare needs write access"),
        ({"role": "fineGrained", "scoped": [{"entity": {"type": "space", "name": "owner/other"}, "permissions": ["repo.write"]}]},
         "fine-grained token without repo.write on space owner/prepare or on owner"),
        ({"role": "fineGrained", "scoped": [{"entity": {"type": "user", "name": "owner"}, "permissions": ["repo.content.read"]}]},
         "fine-grained token without repo.write"),
    ],
)
def test_space_check_refuses_a_token_that_may_not_restart_it_as_the_restart_would(stub: HubStub, hub: Hub, access, fragment) -> None:
    stub.token_access[TOKEN] = access
    launcher = SpaceLauncher(SpaceTarget(space="owner/prepare"), hub)
    with pytest.raises(LaunchError, match="cannot be restarted with this token") as caught:
        launcher.check()
    assert fragment in caught.value.message
    with pytest.raises(HubError, match="forbidden"):  # the Hub agrees
        launcher.launch(PREPARE)
    assert stub.restarts("owner/prepare") == 0


@pytest.mark.parametrize(
    "access",
    [
        {"role": "fineGrained", "scoped": [{"entity": {"type": "space", "name": "owner/prepare"}, "permissions": ["repo.write"]}]},
        {"role": "fineGrained", "scoped": [{"entity": {"type": "user", "name": "owner"}, "permissions": ["repo.write"]}]},
    ],
)
def test_space_check_accepts_a_fine_grained_token_with_repo_write(stub: HubStub, hub: Hub, access) -> None:
    stub.token_access[TOKEN] = access
    SpaceLauncher(SpaceTarget(space="owner/prepare"), hub).check()
    SpaceLauncher(SpaceTarget(space="owner/prepare"), hub).launch(PREPARE)
    assert stub.restarts("owner/prepare") == 1


def test_space_check_without_a_token_stops_the_run(stub: HubStub) -> None:
    hub = Hub(HubConfig(endpoint=stub.url, token=None, backoff=0.01))
    with pytest.raises(AuthError, match="HF_TOKEN is not set"):
        SpaceLauncher(SpaceTarget(space="owner/prepare"), hub).check()


def test_space_check_of_a_missing_space_is_a_404_hub_error(stub: HubStub, hub: Hub) -> None:
    with pytest.raises(HubError) as caught:
        SpaceLauncher(SpaceTarget(space="owner/missing"), hub).check()
    assert type(caught.value) is HubError
    assert caught.value.status == 404
    assert "Space owner/missing" in caught.value.message
    assert "check the Space id 'owner/missing'" in (caught.value.hint or "")


def test_a_prepare_space_launch_restarts_once(stub: HubStub, hub: Hub) -> None:
    launched = SpaceLauncher(SpaceTarget(space="owner/prepare"), hub).launch(PREPARE)
    assert launched == Launched("Space owner/prepare", "owner/prepare", "restarted, stage BUILDING")
    assert stub.restarts("owner/prepare") == 1
    assert stub.restarts("owner/retrain_dept") == 0
    assert [r.path for r in stub.requests if r.method == "POST"] == ["/api/spaces/owner/prepare/restart"]
    assert stub.auth_headers_seen() == [f"Bearer {TOKEN}"]


def test_a_retrain_space_is_told_its_dataset_version_and_restarts_once(stub: HubStub, hub: Hub) -> None:
    """Setting DATASET_VERSION to a new value restarts the Space on the Hub: no second restart is sent."""
    launched = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub).launch(RETRAIN)
    version = RETRAIN.version
    assert launched.detail == f"DATASET_VERSION={version} set, which restarts it"
    assert stub.space_variables("owner/retrain_dept") == {"DATASET_VERSION": version}
    assert stub.restarts("owner/retrain_dept") == 1
    assert [r.path for r in stub.requests if r.method == "POST"] == ["/api/spaces/owner/retrain_dept/variables"]


def test_a_retrain_space_already_on_the_version_is_restarted_explicitly(stub: HubStub, hub: Hub) -> None:
    """The same version again (a retried retrain): the variable does not change, so one restart is sent."""
    launcher = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub)
    launcher.launch(RETRAIN)
    launcher.launch(RETRAIN)
    assert stub.restarts("owner/retrain_dept") == 2  # one per launch, never two for one
    assert [r.path for r in stub.requests if r.method == "POST"] == [
        "/api/spaces/owner/retrain_dept/variables",
        "/api/spaces/owner/retrain_dept/restart",
    ]


def test_space_evidence_of_a_retrain_is_the_variable_set_after_the_intent(stub: HubStub, hub: Hub) -> None:
    launcher = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub)
    stub.build_seconds = 0  # the restart is over at once: only the variable can tell
    assert launcher.evidence(RETRAIN, 1000.0).sent is None  # nothing set: cannot tell
    launcher.launch(RETRAIN)
    found = launcher.evidence(RETRAIN, 5.0)
    assert (found.sent, found.ref) == (True, "owner/retrain_dept")
    other = Action("retrain", ("department",), key="retrain:department:v2", version="v2")
    assert launcher.evidence(other, 5.0).sent is False  # another version: no sign of it, young


def test_a_space_variable_the_token_may_not_set_fails_the_launch(stub: HubStub) -> None:
    other = Hub(HubConfig(endpoint=stub.url, token="hf_other-user-BBBBBBBBBBBB", backoff=0.01))
    with pytest.raises(HubError) as caught:
        SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), other).launch(RETRAIN)
    assert caught.value.status == 403
    assert stub.restarts("owner/retrain_dept") == 0


def test_space_evidence_is_true_while_the_restart_builds(stub: HubStub, hub: Hub) -> None:
    stub.build_seconds = 30
    launcher = SpaceLauncher(SpaceTarget(space="owner/prepare"), hub)
    launcher.launch(PREPARE)
    assert launcher.evidence(PREPARE, 0.0).sent is True
    assert launcher.evidence(PREPARE, launch_protocol.RECONCILE_GRACE_SECONDS + 1000).sent is True  # a build is evidence at any age
    assert stub.restarts("owner/prepare") == 1  # looking is not restarting


def test_space_evidence_of_a_running_space_depends_on_the_age(stub: HubStub, hub: Hub) -> None:
    launcher = SpaceLauncher(SpaceTarget(space="owner/prepare"), hub)
    grace = launch_protocol.RECONCILE_GRACE_SECONDS
    assert grace == 60.0
    assert launcher.evidence(PREPARE, 0.0).sent is False  # a restart this young would still show as building
    assert launcher.evidence(PREPARE, grace - 0.5).sent is False
    assert launcher.evidence(PREPARE, grace).sent is None  # older: the build may be over, cannot tell
    assert launcher.evidence(PREPARE, grace * 100).sent is None
    assert stub.restarts("owner/prepare") == 0


@pytest.mark.parametrize(
    ("stage", "young", "old"),
    [
        ("APP_STARTING", True, True),
        ("RUNNING_BUILDING", True, True),
        ("RUNNING_APP_STARTING", True, True),
        ("PAUSED", False, None),
        ("RUNTIME_ERROR", False, None),
    ],
)
def test_space_evidence_by_stage(stub: HubStub, hub: Hub, stage: str, young: bool, old: bool | None) -> None:
    stub.set_stage("owner/prepare", stage)
    launcher = SpaceLauncher(SpaceTarget(space="owner/prepare"), hub)
    assert launcher.evidence(PREPARE, 1.0).sent is young
    assert launcher.evidence(PREPARE, launch_protocol.RECONCILE_GRACE_SECONDS + 1).sent is old


def test_space_evidence_of_a_missing_space_raises(stub: HubStub, hub: Hub) -> None:
    with pytest.raises(HubError) as caught:
        SpaceLauncher(SpaceTarget(space="owner/missing"), hub).evidence(PREPARE, 1.0)
    assert caught.value.status == 404


CHILD_RUNNER = """
import sys, threading, time
from orchestrator.config.targets import CommandTarget
from orchestrator.launch.command import CommandLauncher
from orchestrator.state.records import Action
threading.Thread(target=time.sleep, args=(100,), daemon=True).start()  # a second thread, as in a real run
script = "import os, time; open(os.environ['PID_FILE'], 'w').write(str(os.getpid())); time.sleep(30)"
CommandLauncher(CommandTarget(command=(sys.executable, "-c", script), timeout=60)).launch(Action("prepare", ("a",), "k"))
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return status.read().split("State:")[1].split()[0] != "Z"  # a zombie is dead, just not reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_a_killed_orchestrator_takes_its_command_with_it(tmp_path: Path) -> None:
    """kill -9 of the orchestrator mid-launch: the job must not live on to race the next run's retry."""
    import os
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "pid"
    runner = subprocess.Popen([sys.executable, "-c", CHILD_RUNNER], env={**os.environ, "PID_FILE": str(pid_file)})
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    child = int(pid_file.read_text())
    assert _running(child)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_a_paused_retrain_space_is_told_its_version_then_restarted_once(stub: HubStub, hub: Hub) -> None:
    """The seed's retrain Space pauses itself when done; a variable change does not wake a paused Space,
    so it is set first, then the Space is restarted: still one restart."""
    stub.set_stage("owner/retrain_dept", "PAUSED")
    launched = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub).launch(RETRAIN)
    assert launched.detail == f"DATASET_VERSION={RETRAIN.version} set, then restarted, stage BUILDING"
    assert stub.space_variables("owner/retrain_dept") == {"DATASET_VERSION": RETRAIN.version}
    assert stub.restarts("owner/retrain_dept") == 1
    assert [r.path for r in stub.requests if r.method == "POST"] == [
        "/api/spaces/owner/retrain_dept/variables",
        "/api/spaces/owner/retrain_dept/restart",
    ]


def test_space_evidence_after_a_paused_retrain_finished_is_the_variable(stub: HubStub, hub: Hub) -> None:
    """The Space restarted for the version, trained and paused itself before the next run looked: the
    variable, set after the intent, still says the launch happened (no second restart)."""
    stub.build_seconds = 0
    launcher = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub)
    launcher.launch(RETRAIN)
    stub.set_stage("owner/retrain_dept", "PAUSED")
    assert launcher.evidence(RETRAIN, 10.0).sent is True


def test_a_space_in_error_is_told_its_version_then_restarted(stub: HubStub, hub: Hub) -> None:
    stub.set_stage("owner/retrain_dept", "RUNTIME_ERROR")
    launched = SpaceLauncher(SpaceTarget(space="owner/retrain_dept"), hub).launch(RETRAIN)
    assert launched.detail.endswith("set, then restarted, stage BUILDING")
    assert stub.restarts("owner/retrain_dept") == 1


def test_a_github_ref_that_is_no_run_id_is_a_clear_error(stub: HubStub, hub: Hub) -> None:
    from orchestrator.config.targets import WorkflowTarget
    from orchestrator.launch.workflow import WorkflowLauncher

    launcher = WorkflowLauncher(WorkflowTarget(github="owner/app", workflow="retrain.yml"), hub, {"GITHUB_TOKEN": "x" * 8})
    with pytest.raises(LaunchError) as caught:
        launcher.status("owner/retrain_dept")
    assert "is not a GitHub run" in caught.value.message
