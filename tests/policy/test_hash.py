"""The policy hash: of the effective rules, so only a changed rule changes it."""

from __future__ import annotations

import json

from enigma.policy import Policy, canonical, describe, example_text, parse_policy, policy_hash
from tests.policy.conftest import WritePolicy, load

POLICY = """\
# Payments team
[defaults]
merge_method = "squash"
[defaults.checks]
required = ["build", "test"]
timeout = "15m"

[repositories.lib]
[repositories.service]
after = ["lib"]

[approvals.release_approval.by_release_type]
major = 2
"""

# the same rules: other order, other spelling of the same values, comments, a restated default
REFORMATTED = """\
[approvals.release_approval]
by_release_type = { major = { approvers = 2 } }

[repositories.service]   # waits for lib
after = [ "lib" ]
[repositories.lib]
merge_method = "squash"

[defaults]
checks = { timeout = 900, required = [ "build", "test" ] }
merge_method   =   'squash'
base_branch = "develop"
"""


def test_hash_is_stable_under_reformatting(write_policy: WritePolicy) -> None:
    first = load(write_policy(POLICY))
    second = load(write_policy(REFORMATTED))
    assert len(first.hash) == 16 and int(first.hash, 16) >= 0
    assert first.hash == second.hash


def test_hash_changes_with_a_rule(write_policy: WritePolicy) -> None:
    first = load(write_policy(POLICY)).hash
    changed = load(write_policy(POLICY.replace('"test"]', '"lint"]'))).hash
    more = load(write_policy(POLICY.replace("major = 2", "major = 3"))).hash
    order = load(write_policy(POLICY.replace('after = ["lib"]', "after = []"))).hash
    assert len({first, changed, more, order}) == 4


def test_defaults_have_a_fixed_hash() -> None:
    assert policy_hash(Policy()) == policy_hash(Policy.model_validate({}))
    # the example restates every default; only its repository order differs from them
    example = parse_policy(example_text())
    assert policy_hash(example) != policy_hash(Policy())
    without_order = canonical(example) | {"repositories": {}}
    assert without_order == canonical(Policy())


SECRET_CHANNEL = """\
[[notifications]]
type = "webhook"
url = "https://hooks.example.com/enigma"
secret = "{secret}"

[[notifications]]
type = "email"
host = "smtp.example.com"
password = "smtp-{secret}"
sender = "enigma@example.com"
recipients = ["rm@example.com"]
"""


def test_secrets_change_the_hash_but_never_appear(write_policy: WritePolicy) -> None:
    one = load(write_policy(SECRET_CHANNEL.replace("{secret}", "hunter2-one")))
    two = load(write_policy(SECRET_CHANNEL.replace("{secret}", "hunter2-two")))
    assert one.hash != two.hash
    described = json.dumps(describe(one.policy, ["web-app"]))
    assert "hunter2" not in described and "hunter2" not in repr(one)
    assert described.count('"**********"') == 2
