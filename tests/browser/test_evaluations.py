"""The Evaluate button in real headless Chromium, through to a finished evaluation: on a search
page the user picks a protocol and the main overrides, the evaluation appears with its live
status, ends `succeeded` with its test accuracy, params and FLOPs, and its test-accuracy curve is
drawn; the compare page shows the evaluated test accuracy beside the search. A bad override comes
back as problem details naming the field."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_dashboard import (  # noqa: E402, F401 - fixtures shared with the dashboard tests
    BASELINE_SPEC,
    browser,
    enter_key,
    page,
    shot,
)
from tests.integration.test_end_to_end import wait_for  # noqa: E402

pytestmark = pytest.mark.browser


def test_evaluate_button_through_to_a_finished_evaluation(live_service: Any, page: Page) -> None:  # noqa: F811
    spec = {**BASELINE_SPEC, "name": f"browser-eval-{secrets.token_hex(3)}"}
    with live_service.client() as client:
        search = client.post("/searches", json=spec).json()
        assert wait_for(client, search["id"], {"succeeded", "failed"}, timeout=150)["status"] == "succeeded"
    enter_key(page, live_service.base_url, live_service.api_key)
    page.goto(f"{live_service.base_url}/dashboard/searches/{search['id']}")
    section = page.locator('[data-section="evaluations"]')
    expect(section.get_by_text("No evaluations yet.")).to_be_visible()

    # A value the API refuses is shown with the field it names; nothing is created.
    section.get_by_label("Protocol").select_option("nb201")
    section.get_by_label("Data set").select_option("digits")
    section.get_by_label("Epochs").fill("100000")
    section.locator('[data-action="evaluate"]').click()
    expect(section.locator('.field-errors [data-field="overrides.epochs"]')).to_be_visible()

    section.get_by_label("Genotype").select_option("best")
    for label, value in (("Epochs", "2"), ("Batch", "64"), ("C", "8"), ("Layers / N", "1"), ("Seed", "1")):
        section.get_by_label(label, exact=True).fill(value)
    section.locator('[data-action="evaluate"]').click()
    row = section.locator("tr[data-evaluation]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", re.compile("queued|running|retrying|succeeded"))
    expect(row).to_have_attribute("data-status", "succeeded", timeout=150_000)
    expect(row.locator('[data-field="test_acc"]')).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    expect(section.locator('[data-chart="evaluation-test-accuracy"] canvas').first).to_be_visible()
    shot(page, "search-evaluation")

    evaluation_id = row.get_attribute("data-evaluation")
    with live_service.client() as client:
        stored = client.get(f"/evaluations/{evaluation_id}").json()
    assert stored["status"] == "succeeded" and stored["source"]["which"] == "best", stored
    assert stored["spec"]["epochs"] == 2 and stored["spec"]["C"] == 8 and stored["seed"] == 1
    shown = row.locator('[data-field="test_acc"]').inner_text()
    assert shown == f"{100 * stored['test_acc']:.2f}%"

    page.goto(f"{live_service.base_url}/dashboard/compare?ids={search['id']}")
    cell = page.locator(f'tr[data-id="{search["id"]}"] [data-field="evaluated"]')
    expect(cell).to_have_text(shown)
    shot(page, "compare-evaluated")
