"""`enigma policy check|show|example`, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import enigma
from enigma.cli import app
from tests.policy.conftest import WritePolicy, load

CYCLE = """\
[repositories.lib]
after = ["service"]

[repositories.service]
after = ["lib"]
"""

SECRET = """\
[repositories.lib]
[repositories.service]
after = ["lib"]

[[notifications]]
type = "slack"
name = "releases"
webhook_url = "https://hooks.slack.com/services/T0/B0/sup3rs3cret"
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner in tmp_path, with no policy or repositories from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENIGMA_POLICY", raising=False)
    monkeypatch.delenv("ENIGMA_REPOSITORIES", raising=False)
    return CliRunner()


def test_check_prints_ok_with_the_hash(runner: CliRunner, write_policy: WritePolicy) -> None:
    path = write_policy('[defaults]\nmerge_method = "squash"\n')
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {path} (hash {load(path).hash})\n"


def test_check_finds_the_file_like_the_service(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: built-in defaults (hash ")
    (tmp_path / "enigma.toml").write_text("")
    assert runner.invoke(app, ["policy", "check"]).stdout.startswith(f"ok: {tmp_path}/enigma.toml")
    (tmp_path / "team.toml").write_text(CYCLE)
    monkeypatch.setenv("ENIGMA_POLICY", "team.toml")
    assert runner.invoke(app, ["policy", "check"]).exit_code == 1


def test_check_refuses_a_cycle_naming_both_repositories(
    runner: CliRunner, write_policy: WritePolicy
) -> None:
    path = write_policy(CYCLE)
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:2: repositories.lib.after: repositories form a cycle: lib → service → lib",
        f"1 problem in {path}",
    ]


def test_check_with_repos_accepts_after_naming_them(
    runner: CliRunner, write_policy: WritePolicy
) -> None:
    path = write_policy('[repositories.service]\nafter = ["lib"]\n')
    refused = runner.invoke(app, ["policy", "check", str(path)])
    assert refused.exit_code == 1
    assert f"{path}:2: repositories.service.after[0]: service comes after unknown" in refused.stderr
    accepted = runner.invoke(app, ["policy", "check", str(path), "--repos", "lib,web-app"])
    assert accepted.exit_code == 0, accepted.output
    bad = runner.invoke(app, ["policy", "check", str(path), "--repos", "lib,../etc"])
    assert bad.exit_code == 2 and "'../etc' is not a repository name" in bad.stderr


def test_check_reports_a_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", "nope.toml"])
    assert result.exit_code == 1
    assert f"{tmp_path}/nope.toml: cannot read the policy file" in result.stderr


def test_show_json_has_rules_waves_and_hash_but_no_secret(
    runner: CliRunner, write_policy: WritePolicy
) -> None:
    path = write_policy(SECRET)
    result = runner.invoke(
        app, ["policy", "show", "--json", "--file", str(path), "--repos", "service,web-app,lib"]
    )
    assert result.exit_code == 0, result.output
    assert "sup3rs3cret" not in result.output
    shown = json.loads(result.stdout)
    assert shown["hash"] == load(path).hash and shown["source"] == str(path)
    assert shown["waves"] == [["web-app", "lib"], ["service"]]
    assert shown["repositories"]["service"]["after"] == ["lib"]
    assert shown["repositories"]["web-app"]["release_branch"]["hotfix"] == "hotfix/{version}"
    assert shown["notifications"][0]["webhook_url"] == "**********"
    assert shown["approvals"]["conflict"]["roles"] == ["approver", "release_manager", "admin"]


def test_show_table_lists_repositories_from_the_file_and_settings(
    runner: CliRunner, write_policy: WritePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(SECRET)  # ./enigma.toml
    monkeypatch.setenv("ENIGMA_REPOSITORIES", '["payments-api"]')
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["policy", "show"])
    assert result.exit_code == 0, result.output
    assert "sup3rs3cret" not in result.output
    for text in ("payments-api", "lib", "service", "(any other)", "releases", "release_approval"):
        assert text in result.stdout
    assert "waves 1) payments-api, lib  2) service" in result.stdout
    assert f"hash {load(Path('enigma.toml')).hash}" in result.stdout


def test_example_command_prints_a_valid_policy(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "example"])
    assert result.exit_code == 0
    (tmp_path / "enigma.toml").write_text(result.stdout)
    assert runner.invoke(app, ["policy", "check"]).exit_code == 0


def test_enigma_policy_check_as_a_process(tmp_path: Path) -> None:
    (tmp_path / "enigma.toml").write_text(CYCLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env["PYTHONPATH"] = str(Path(enigma.__file__).resolve().parents[1])
    proc = subprocess.run(
        [sys.executable, "-c", "from enigma.cli import main; main()", "policy", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "enigma.toml:2: repositories.lib.after: repositories form a cycle" in proc.stderr
    assert "lib → service → lib" in proc.stderr


def test_the_service_refuses_to_start_on_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "cycle.toml").write_text(CYCLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENIGMA_")}
    env |= {
        "PYTHONPATH": str(Path(enigma.__file__).resolve().parents[1]),
        "ENIGMA_POLICY": str(tmp_path / "cycle.toml"),
        "ENIGMA_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", "from enigma.cli import main; main()", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "repositories form a cycle: lib → service → lib" in proc.stdout
    assert "The service does not start" in proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "sandbox").exists(), "it started something first"
