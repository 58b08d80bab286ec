"""`enigma serve`: the greeting with URL and demo token, --port 0, and a clean shutdown."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from tests.api.conftest import StackFactory
from tests.api.harness import BIN, base_env, wait_until


@pytest.mark.slow
def test_serve_prints_url_and_demo_token_once_and_the_token_works(
    stack_factory: StackFactory,
) -> None:
    # a stack without ENIGMA_API_TOKENS; its sandbox is reused by a second `serve --port 0`
    stack = stack_factory("demo", with_tokens=False)
    log = stack.service.log_text()
    assert "API token  a demo token with role admin" in log
    found = re.findall(rf"export ENIGMA_URL={stack.service.url} ENIGMA_API_TOKEN=(enigma_\S+)", log)
    assert len(found) == 1, log
    token = found[0]
    assert log.count(token) == 1, "the demo token was printed more than once"
    assert f"Enigma is ready at {stack.service.url}" in log
    token_file = stack.service.data_dir / "api_tokens.json"
    assert token_file.stat().st_mode & 0o777 == 0o600

    demo = stack.api(token)
    config = demo.http.get("/api/config").json()
    assert (config["user"], config["roles"]) == ("demo", ["admin"])
    # the curl line of the greeting, as a user would paste it
    body = re.search(r"-d '(\{.*\})'", log)
    assert body is not None
    answer = demo.http.post(
        "/api/runs", content=body.group(1), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201, answer.text
    demo.act(answer.json()["id"], "cancel", expect=200)
    stack.service.stop()

    # --port 0: the printed URL is the one that answers; the same demo token again
    proc = subprocess.Popen(
        [str(BIN / "enigma"), "serve", "--port", "0"],
        env=base_env(stack.service.data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("Enigma is ready at "):
                url = line.split()[-1]
            if line.startswith("  export ENIGMA_URL="):
                assert line.split("ENIGMA_API_TOKEN=")[1].strip() == token
                break
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
        assert httpx.get(f"{url}/readyz", timeout=5).json() == {"status": "ready"}
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.slow
def test_sigterm_ends_sse_streams_with_a_shutdown_event_and_exits_promptly(
    stack_factory: StackFactory,
) -> None:
    stack = stack_factory("term")
    alice = stack.manager
    run_id = alice.start(fix_version="2.3.1", release_type="hotfix", repositories=["web-app"])["id"]
    alice.wait_decision(run_id, "plan_approval")
    got: list[str] = []

    def listen() -> None:
        client = stack.service.client(stack.tokens.viewer)
        with connect_sse(client, "GET", "/api/events", timeout=30) as source:
            for sse in source.iter_sse():
                got.append(sse.event)

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    wait_until(lambda: "decision.requested" in got, 10, "the backlog")
    began = time.monotonic()
    assert stack.service.stop() in (0, -15)  # uvicorn re-raises the signal once it is done
    assert "Application shutdown complete." in stack.service.log_text()
    took = time.monotonic() - began
    reader.join(5)
    assert got[-1] == "shutdown", got[-3:]
    assert took < 8, f"shutdown took {took:.1f}s: an open stream held the server"

    stack.service.start()  # the waiting run is still waiting after a clean restart too
    assert alice.run(run_id)["status"] == "waiting_for_approval"
