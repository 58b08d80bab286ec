"""What the chaos harness calls a duplicate or a missing effect, on a hand-made effect log."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bench.chaos import _check_effects

from enigma.sandbox.seeds import chaos_seed


def _complete_log(seed: dict[str, Any]) -> list[dict[str, Any]]:
    """The effects a clean release of every version leaves (first branch of a conflict pair)."""
    version_of = {i["key"]: i["fix_versions"][0] for i in seed["jira"]["issues"]}
    effects: list[dict[str, Any]] = []

    def add(kind: str, key: str) -> None:
        effects.append({"kind": kind, "key": key})

    for version in sorted(set(version_of.values())):
        add("version.release", f"jira:version.release:{version}")
        add("page.created", f"confluence:page.create:REL:ENG {version} release notes")
    number = 0
    for repo in seed["github"]["repos"]:
        full = f"acme/{repo['name']}"
        done: set[tuple[str, tuple[str, ...]]] = set()
        for version in sorted(
            {version_of[b["name"][8:].rsplit("-", 1)[0]] for b in repo["branches"]}
        ):
            number += 1
            add("ref.create", f"github:ref:{full}:refs/heads/release/{version}")
            add("pull.create", f"github:pull:{full}:release/{version}->main")
            add("pull.merge", f"github:pull.merge:{full}:#{number}")
            add("release.create", f"github:release:{full}:v{version}")
        for branch in repo["branches"]:
            ticket = branch["name"][8:].rsplit("-", 1)[0]
            group = (version_of[ticket], tuple(branch["files"]))
            if group in done:
                continue  # the conflicting second branch is skipped
            done.add(group)
            add("merge", f"github:merge:{full}:release/{group[0]}<-{branch['name']}")
            add("transition", f"jira:transition:{ticket}:Done")
            add("comment", f"jira:comment:{ticket}:abc123")
            add("remotelink", f"jira:remotelink:{ticket}:http://x/{full}/pull/1")
    return effects


def test_a_complete_release_log_has_nothing_duplicated_or_missing(tmp_path: Path) -> None:
    seed = tomllib.loads(chaos_seed(tmp_path / "seed.toml", runs=5).read_text())
    assert _check_effects(_complete_log(seed), seed) == ({}, [])


def test_an_effect_done_twice_is_a_duplicate(tmp_path: Path) -> None:
    seed = tomllib.loads(chaos_seed(tmp_path / "seed.toml", runs=5).read_text())
    effects = _complete_log(seed)
    comment = next(e for e in effects if e["kind"] == "comment")
    duplicates, missing = _check_effects([*effects, comment], seed)
    assert duplicates == {comment["key"]: 2}
    assert missing == []


def test_both_branches_of_a_conflicting_pair_merged_is_reported(tmp_path: Path) -> None:
    seed = tomllib.loads(chaos_seed(tmp_path / "seed.toml", runs=5).read_text())
    effects = _complete_log(seed)
    pair = [b["name"] for b in seed["github"]["repos"][0]["branches"] if "3.5.0" in str(b["files"])]
    assert len(pair) == 2
    extra = {"kind": "merge", "key": f"github:merge:acme/payments-api:release/3.5.0<-{pair[1]}"}
    _, missing = _check_effects([*effects, extra], seed)
    assert f"exactly one merge of {pair} into release/3.5.0" in missing


def test_a_release_left_unfinished_is_missing(tmp_path: Path) -> None:
    seed = tomllib.loads(chaos_seed(tmp_path / "seed.toml", runs=5).read_text())
    effects = [e for e in _complete_log(seed) if e["key"] != "jira:version.release:3.2.0"]
    assert _check_effects(effects, seed)[1] == ["jira:version.release:3.2.0"]
