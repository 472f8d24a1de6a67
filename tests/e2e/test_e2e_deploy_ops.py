"""deploy.sh / delete.sh on the emulator, the operations side (issues 11 and 14.7): hints
that run exactly as printed, two copies side by side, images that cannot exist yet, public
IPs, leftovers of a failed create, a spec outside platforms/, concurrent deploys.

Every printed command a test can run is run here exactly as printed (shlex-split, from the
directory the script ran in), except `docker login`/`docker push` (no docker daemon): the
`aws ecr get-login-password ...` half of the login is run as printed, and the push is done
with ECR's put-image, which is what a push leaves in the registry."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess

import pytest
import yaml
from e2e_support import (
    ROOT,
    STATE_DIR,
    copy_templates,
    free_port,
    inject_broken_resource,
    push_images,
    run_printed,
    safe_env,
    stack_outputs,
    stack_status,
)

from generator.deploy._aws import load_template

pytestmark = (
    pytest.mark.e2e
)  # independent tests (own stacks, per-worker emulator and state dir): spread over the workers

PLATFORM = "scheduled-file-writer"
SECRET = {"STACKGEN_PARAM_SmbPassword": "e2e-SmbPassword-Value-0123456789abcdef"}
SFW = ROOT / "templates" / PLATFORM


def _line(out: str, start: str) -> str:
    return next(x for x in out.splitlines() if x.strip().startswith(start))


def _params(stack_params: dict) -> dict:
    return {p["ParameterKey"]: p.get("ParameterValue") for p in stack_params}


def _stack_params(cfn, stack: str) -> dict:
    return _params(cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"])


# --- 7. an endpoint that is not there; the emulator's start/stop hints ---------------------------


def test_unreachable_endpoint_is_one_line_and_the_start_and_stop_hints_run_as_printed(scripts):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--endpoint-url", url, endpoint=False, env=SECRET)
    assert run.code == 2, run
    assert len(run.out.strip().splitlines()) == 1, run  # one line, no traceback, nothing uploaded
    assert run.out.startswith(f"deploy.sh: error: nothing answers at {url}")
    start = run.out.split("start it with: ", 1)[1].strip()
    assert start == f"make emulator-start EMULATOR_PORT={port}"
    run = scripts.delete("--platform", PLATFORM, "--env", "dev", "--yes", "--endpoint-url", url, endpoint=False)
    assert run.code == 2 and len(run.out.strip().splitlines()) == 1, run
    started = run_printed(start)
    try:
        assert started.returncode == 0, started
        stop = started.stdout.strip().splitlines()[-1].split("stop: ", 1)[1].rstrip(")")
        assert stop == f"make emulator-stop EMULATOR_PORT={port}"
        # the wrong port: an error naming the port that runs, and how to stop it
        wrong = run_printed(f"make emulator-stop EMULATOR_PORT={free_port()}")
        assert wrong.returncode != 0, wrong
        assert f"port {port}" in wrong.stderr and stop in wrong.stderr, wrong
        assert "nothing to stop" not in wrong.stdout
    finally:
        stopped = run_printed(stop) if started.returncode == 0 else started
    assert stopped.returncode == 0 and f"stopped the emulator on {url}" in stopped.stdout, stopped


# --- 7. concurrent deploys --------------------------------------------------------------------


def test_a_second_deploy_of_the_same_stack_is_refused_at_once(scripts):
    stack = "sfw-locked"
    key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{scripts.endpoint}-us-east-1-{stack}")
    lock = os.path.join(STATE_DIR, "locks", f"{key}.lock")
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a deploy.sh of that stack is running
        run = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--stack-name", stack, env=SECRET)
    assert run.code == 1, run
    assert run.out.strip() == (
        f"deploy.sh: error: another deploy.sh or delete.sh of {stack} (us-east-1, "
        f"{scripts.endpoint}) is running on this machine; run the same command again "
        "once it has finished"
    )


# --- 5. public IPs ----------------------------------------------------------------------------


def _public_ip_templates(tmp_path):
    out = copy_templates(SFW, tmp_path / "public-ip")
    services = load_template(out / "services.yaml")
    schedule = services["Resources"]["WriterSchedule"]
    schedule["Properties"]["Target"]["EcsParameters"]["NetworkConfiguration"]["AwsvpcConfiguration"][
        "AssignPublicIp"
    ] = "ENABLED"
    schedule["Metadata"] = {"stackgen": {"public_ip": {"reason": "no NAT in the dev account yet"}}}
    (out / "services.yaml").write_text(yaml.safe_dump(services, sort_keys=False))
    return out


def test_public_ip_tasks_warn_and_need_confirmation_outside_dev(scripts, aws, tmp_path):
    tdir = _public_ip_templates(tmp_path)
    warning = (
        "WARNING: scheduled-file-writer (prod) gives every task a public IP in a public subnet "
        "(network.egress: public-ip): no NAT in the dev account yet. Tasks are exposed to the internet "
        "except as their security groups allow; prefer vpc-endpoints or a NAT."
    )
    prod = ROOT / "parameters" / PLATFORM / "prod.json"
    run = scripts.deploy(
        "--platform",
        PLATFORM,
        "--env",
        "prod",
        "--stack-name",
        "sfw-public",
        "--template-dir",
        str(tdir),
        "--params-file",
        str(prod),
        env=SECRET,
    )
    assert run.code == 1, run
    assert warning in run.out
    refusal = _line(run.out, "deploy.sh: error: not deployed: tasks of prod would get public IPs")
    assert refusal.endswith(" --yes") and "re-run with --yes to accept: " in refusal
    assert stack_status(aws("cloudformation"), "sfw-public") is None  # nothing created
    # in dev: the warning, then the deploy goes on (here to a --review that stops it)
    dev = ROOT / "parameters" / PLATFORM / "dev.json"
    run = scripts.deploy(
        "--platform",
        PLATFORM,
        "--env",
        "dev",
        "--stack-name",
        "sfw-public",
        "--review",
        "--template-dir",
        str(tdir),
        "--params-file",
        str(dev),
        env=SECRET,
    )
    assert run.code == 1, run
    assert warning.replace("(prod)", "(dev)") in run.out
    assert "Creating change set" in run.out and "not executed (--review)" in run.out
    assert stack_status(aws("cloudformation"), "sfw-public") is None
    # the committed templates give no task a public IP: no warning
    assert (
        "public IP"
        not in scripts.deploy(
            "--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-public", "--review", env=SECRET
        ).out
    )


# --- 3 and 4. two copies side by side; images that cannot exist yet ----------------------------


def test_two_copies_side_by_side_and_images_pushed_between_deploys(scripts, aws):
    cfn = aws("cloudformation")
    first = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-a", env=SECRET)
    assert first.code == 0, first
    second = scripts.deploy("--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-b", env=SECRET)
    assert second.code == 0, second
    assert stack_status(cfn, "sfw-a") == stack_status(cfn, "sfw-b") == "CREATE_COMPLETE"
    a, b = stack_outputs(cfn, "sfw-a"), stack_outputs(cfn, "sfw-b")
    assert a["WriterRepositoryUri"] != b["WriterRepositoryUri"] and a["MainClusterName"] != b["MainClusterName"]
    # S3PrefixListId was looked up in the region (the parameters file no longer has it)
    pl = aws("ec2").describe_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}]
    )["PrefixLists"]
    assert _stack_params(cfn, "sfw-a")["S3PrefixListId"] == pl[0]["PrefixListId"]
    assert f"S3PrefixListId={pl[0]['PrefixListId']} (com.amazonaws.us-east-1.s3, looked up in us-east-1)" in first.out
    # first deploy: the schedule runs no task, and the push commands follow
    assert _stack_params(cfn, "sfw-a")["WriterImageReady"] == "false"
    assert "WriterImageReady=false: first deploy" in first.out
    image = f"{a['WriterRepositoryUri']}:1.0.0"
    assert f"docker push {image}" in first.out
    login = _line(first.out, "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws ecr get-login-password")
    password = run_printed(login.split(" | docker login", 1)[0])
    assert password.returncode == 0 and password.stdout.strip(), password
    again = _line(first.out, "then run the same deploy.sh command again: ").split("again: ", 1)[1]
    # not pushed yet: the same command refuses, with the push commands, and changes nothing
    refused = run_printed(again, env=SECRET)
    assert refused.returncode == 2, refused
    assert f"docker push {image}" in refused.stderr and "--allow-missing-images" in refused.stderr
    # --allow-missing-images deploys with the service at 0, and says so
    allowed = scripts.deploy(
        "--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-a", "--allow-missing-images", env=SECRET
    )
    assert allowed.code == 0, allowed
    assert f"WARNING: {image} is not in its repository: WriterImageReady=false" in allowed.out
    # pushed: the printed command, run again as printed, turns the schedule on
    assert push_images(aws, "sfw-a", SFW) == [image]
    done = run_printed(again, env=SECRET)
    assert done.returncode == 0, done
    assert _stack_params(cfn, "sfw-a")["WriterImageReady"] == "true"
    assert "Images to push" not in done.stdout
    # the diagnose hint runs as printed
    diagnose = _line(done.stdout, "==> Check the deployed network path with: ").split("with: ", 1)[1]
    ran = run_printed(diagnose)
    assert "Traceback" not in ran.stderr and ran.returncode in (0, 1), ran
    assert "sfw-a" in ran.stdout + ran.stderr
    # delete one copy: the other is intact
    gone = scripts.delete(
        "--platform",
        PLATFORM,
        "--env",
        "dev",
        "--stack-name",
        "sfw-b",
        "--yes",
        "--purge-retained",
        "--purge-artifacts",
    )
    assert gone.code == 0, gone
    assert stack_status(cfn, "sfw-b") is None
    assert stack_status(cfn, "sfw-a") == "UPDATE_COMPLETE"
    uris = {r["repositoryUri"] for r in aws("ecr").describe_repositories()["repositories"]}
    assert a["WriterRepositoryUri"] in uris and b["WriterRepositoryUri"] not in uris  # b's was purged
    gone = scripts.delete(
        "--platform",
        PLATFORM,
        "--env",
        "dev",
        "--stack-name",
        "sfw-a",
        "--yes",
        "--purge-retained",
        "--purge-artifacts",
    )
    assert gone.code == 0, gone


# --- 2. leftovers of a failed create, found again after the stack is gone ------------------------


def test_failed_create_leftovers_are_listed_and_purged(scripts, aws, tmp_path):
    broken = copy_templates(SFW, tmp_path / "broken")
    inject_broken_resource(broken / "services.yaml")
    dev = ROOT / "parameters" / PLATFORM / "dev.json"
    common = ("--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-broken")
    run = scripts.deploy(*common, "--template-dir", str(broken), "--params-file", str(dev), env=SECRET)
    assert run.code == 1, run
    cfn = aws("cloudformation")
    assert stack_status(cfn, "sfw-broken") == "ROLLBACK_COMPLETE"
    run = scripts.delete(*common, "--yes")
    assert run.code == 0, run
    assert "Left behind by the failed create of sfw-broken (ROLLBACK_COMPLETE; they still exist):" in run.out
    listed = [x for x in run.out.splitlines() if "retained by the rollback of a failed create" in x]
    assert any("AWS::KMS::Key" in x for x in listed) and any("AWS::Logs::LogGroup" in x for x in listed), run
    # the stack is gone; its leftovers are still found (its recorded stack ID, its events)
    run = scripts.delete(*common, "--yes")
    assert run.code == 0, run
    assert "Left behind by earlier instances of sfw-broken (they still exist):" in run.out
    assert len([x for x in run.out.splitlines() if "retained by the rollback of a failed create" in x]) == len(listed)
    run = scripts.delete(*common, "--yes", "--purge-retained", "--purge-artifacts")
    assert run.code == 0, run
    assert "scheduled key" in run.out and "deleted log group" in run.out
    run = scripts.delete(*common, "--yes")
    assert run.code == 0 and "Left behind" not in run.out, run


# --- 7. a spec outside platforms/ ---------------------------------------------------------------


def test_make_deploy_local_deploys_a_spec_outside_platforms(scripts, aws, tmp_path):
    spec = yaml.safe_load((ROOT / "platforms" / f"{PLATFORM}.yaml").read_text())
    spec["name"] = "my-writer"
    path = tmp_path / "specs" / "my-writer.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    port = scripts.endpoint.rsplit(":", 1)[1]
    env = safe_env()
    env.update(SECRET)
    proc = subprocess.run(
        ["make", "deploy-local", f"PLATFORM={path}", f"EMULATOR_PORT={port}"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Note: no parameters/my-writer/dev.json: the template's defaults are used" in out
    assert f"Templates: rendered from {path} (no copy in platforms/ needed)" in out
    assert not (ROOT / "platforms" / "my-writer.yaml").exists()
    assert stack_status(aws("cloudformation"), "my-writer-dev") == "CREATE_COMPLETE"
    run = scripts.delete("--platform", str(path), "--env", "dev", "--yes", "--purge-retained", "--purge-artifacts")
    assert run.code == 0, run
    assert stack_status(aws("cloudformation"), "my-writer-dev") is None


# --- 7. an endpoint that freezes mid-deploy -----------------------------------------------------


# Short loopback timeouts (the product reads them from STACKGEN_LOOPBACK_TIMEOUTS): the wait is
# bounded by what the clients are given, shown here in seconds; the product's defaults (3 s, 10 s,
# 3 attempts) are pinned by tests/e2e/test_deploy_ops.py without waiting them out.
FROZEN_TIMEOUTS = (1, 2, 2)


def test_a_frozen_endpoint_mid_deploy_is_one_line_within_a_bounded_wait(tmp_path):
    import signal
    import time

    from e2e_support import EMULATOR_VENV

    from generator.deploy import _aws, emulator

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = emulator.spawn(EMULATOR_VENV, "127.0.0.1", port, tmp_path, tmp_path / "ministack.log")
    try:
        emulator.wait_ready(url, timeout=30, proc=proc)
        env = safe_env()
        env.update(SECRET)
        env[_aws.LOOPBACK_TIMEOUTS_ENV] = ",".join(map(str, FROZEN_TIMEOUTS))
        deploy = subprocess.Popen(
            [str(ROOT / "deploy.sh"), "--platform", PLATFORM, "--env", "dev", "--endpoint-url", url],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        for line in deploy.stdout:
            lines.append(line)
            if line.startswith("==> Executing"):
                break
        assert lines and lines[-1].startswith("==> Executing"), "".join(lines)
        os.killpg(proc.pid, signal.SIGSTOP)  # the emulator freezes: connections hang
        frozen = time.monotonic()
        rest, _ = deploy.communicate(timeout=180)
        waited = time.monotonic() - frozen
        os.killpg(proc.pid, signal.SIGCONT)
    finally:
        emulator.stop_process(proc.pid)
    assert deploy.returncode == 1, rest
    connect, read, attempts = FROZEN_TIMEOUTS
    # bounded by the clients' timeouts (plus botocore's backoff between attempts and the
    # script's own exit), not minutes of silence
    assert waited < (connect + read) * attempts + 20, waited
    errors = [x for x in rest.splitlines() if "error" in x.lower() or "Traceback" in x]
    assert len(errors) == 1, rest
    assert errors[0].startswith(f"deploy.sh: error: {url}") and "did not answer in time" in errors[0], rest
    assert "run the same deploy.sh command again" in errors[0]


# --- 2. an environment that does not retain data ----------------------------------------------


def test_delete_purges_where_the_environment_does_not_retain_data(scripts, aws, tmp_path):
    tdir = copy_templates(SFW, tmp_path / "no-retain")
    main = load_template(tdir / "main.yaml")
    main["Metadata"]["stackgen"]["retain_on_delete"]["dev"] = False  # data_retention of dev
    (tdir / "main.yaml").write_text(yaml.safe_dump(main, sort_keys=False))
    common = ("--platform", PLATFORM, "--env", "dev", "--stack-name", "sfw-noretain")
    run = scripts.deploy(
        *common,
        "--template-dir",
        str(tdir),
        "--params-file",
        str(ROOT / "parameters" / PLATFORM / "dev.json"),
        env=SECRET,
    )
    assert run.code == 0, run
    repo = stack_outputs(aws("cloudformation"), "sfw-noretain")["WriterRepositoryUri"].split("/", 1)[1]
    run = scripts.delete(*common, "--yes", "--purge-artifacts")
    assert run.code == 0, run
    said, rest = run.out.split("==> Deleting", 1)
    assert (
        "The dev environment does not retain data (data_retention; retain_on_delete is false): what is "
        "listed above as retained is purged after the stack delete." in said
    )
    assert "Artifacts: " in said  # the packaged templates are listed without --bucket
    assert f"deleted repository {repo}" in rest and "scheduled key" in rest and "deleted log group" in rest
    assert repo not in {r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]}
    run = scripts.delete(*common, "--yes")
    assert run.code == 0 and "Left behind" not in run.out, run
