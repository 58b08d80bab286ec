"""Fixtures of the sandbox Jira tests: Server- and Cloud-flavoured peers and their real clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jira import JIRA

from enigma.sandbox.jira_peer import PEER
from enigma.sandbox.server import SandboxServer
from tests.conftest import SandboxFactory
from tests.sandbox.jira.support import connect


@pytest.fixture
def server(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox serving only the Jira peer, playing Jira Server."""
    return sandbox_factory(specs=[PEER])


@pytest.fixture
def cloud_server(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox serving only the Jira peer, playing Jira Cloud."""
    return sandbox_factory(specs=[PEER], settings={"jira_deployment_type": "Cloud"}, name="cloud")


@pytest.fixture
def jira(server: SandboxServer) -> Iterator[JIRA]:
    """A client of the Server-flavoured peer."""
    client = connect(server, validate=True)
    yield client
    client.close()


@pytest.fixture
def cloud(cloud_server: SandboxServer) -> Iterator[JIRA]:
    """A client of the Cloud-flavoured peer."""
    client = connect(cloud_server)
    yield client
    client.close()
