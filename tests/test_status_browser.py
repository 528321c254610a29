"""The status page in a real browser: Debian's chromium driven by Playwright, against ``orchestrator serve``
on the loopback, after two real retrains that deployed. The labels, their states and the metric chart
must really be on the page, with JavaScript and without; a screenshot is kept (``artifacts/``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO, run_cli, seed_env, seed_feedback
from test_serve import SECRET, Served

CHROMIUM = os.environ.get("ORCHESTRATOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("ORCHESTRATOR_ARTIFACTS") or REPO / "artifacts")


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("ORCHESTRATOR_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


def two_deploys(stub, pg_url) -> dict[str, str]:
    """Two rounds of feedback, each prepared, retrained and deployed (macro_f1 0.81, then 0.84)."""
    scores = iter([0.81, 0.84])
    versions = iter(["v2", "v3"])

    def prepare(hub) -> None:
        hub.put_metadata("owner/dept_dataset", version_tag=next(versions), num_samples=500)

    def retrain(hub) -> None:
        version = hub.space_variables("owner/retrain_dept")["DATASET_VERSION"]
        hub.put_file("owner/dept_model", "retrain_result.json", json.dumps({
            "dataset_version": version, "decision": "deployed", "reason": "gain measured",
            "metrics": {"macro_f1": next(scores)}}), repo_type="model")

    stub.on_restart("owner/prepare", prepare, delay=0.1)
    stub.on_restart("owner/retrain_dept", retrain, delay=0.1)
    env = seed_env(stub, pg_url, RETRAIN_RESULT_DEPT="hub:owner/dept_model", WEBHOOK_SECRET=SECRET)
    for corrections in (40, 80):
        seed_feedback(pg_url, {"department": corrections - (40 if corrections == 80 else 0), "urgency": 1})
        done = run_cli(env, "run")
        assert done.returncode == 0, done.stderr
    return env


def test_the_status_page_shows_every_label_its_state_and_the_chart(stub, pg_url, browser):
    env = two_deploys(stub, pg_url)
    served = Served(env)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(served.url + "/")
        rows = page.locator("#labels tbody tr")
        assert rows.count() == 2
        assert page.locator('tr[data-label="department"] td.state').inner_text() == "idle"
        assert page.locator('tr[data-label="urgency"] td.state').inner_text() == "idle"
        assert "deployed: gain measured" in page.locator('tr[data-label="department"]').inner_text()
        assert "macro_f1 0.8400" in page.locator('tr[data-label="department"]').inner_text()
        chart = page.locator('svg[data-chart="department"]')
        assert chart.get_attribute("data-points") == "2"
        assert chart.locator("circle").count() == 2 and chart.bounding_box()["width"] > 300
        assert page.locator('[data-chart="urgency"]').inner_text() == "no deploy with a metric recorded yet"
        assert page.locator("#runs tbody tr").count() == 2
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)

        plain = browser.new_context(java_script_enabled=False).new_page()  # readable without JavaScript
        plain.goto(served.url + "/")
        assert plain.locator("#labels tbody tr").count() == 2
        assert plain.locator('svg[data-chart="department"] circle').count() == 2
    finally:
        served.stop()
    assert (ARTIFACTS / "status-page.png").stat().st_size > 10_000
