"""The study pages in headless Chromium against the live service: a tiny A2M on/off × 2 seeds study
run by the real worker, then the studies list, the results table (sorted by a click), the paired
A2M on vs off row with its Δ equal to the API's, the band curves, the flatness/accuracy scatter
with one point per search, and the links to each search. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_dashboard import enter_key, shot  # noqa: E402
from tests.browser.test_dashboard_fits import is_round_step  # noqa: E402
from tests.integration.test_end_to_end import NO_FLATNESS  # noqa: E402
from tests.unit.tiny import tiny_body  # noqa: E402

pytestmark = pytest.mark.browser

STUDY = {
    "name": "browser-study",
    "base": tiny_body(
        space="nb201",
        dataset={"name": "digits", "subset": 64, "image_size": 8},
        flatness={
            **NO_FLATNESS,
            "hessian_eigenvalue": True,
            "interval": 1,
            "power_iterations": 2,
            "val_batches": 1,
        },
    ),
    "grid": {"a2m.enabled": [True, False], "seed": [0, 1]},
}


def test_study_page_shows_results_pairs_curves_scatter_and_children(live_service: Any, page: Page) -> None:
    with live_service.client() as client:
        resp = client.post("/studies", json=STUDY)
        assert resp.status_code == 201, resp.text
        study_id = resp.json()["id"]
        deadline = time.monotonic() + 240
        while (study := client.get(f"/studies/{study_id}").json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, study
            time.sleep(0.5)
        assert study["status"] == "succeeded", (study, live_service.logs())
        results = client.get(f"/studies/{study_id}/results").json()

    enter_key(page, live_service.base_url, live_service.api_key)
    page.get_by_role("link", name="Studies").first.click()
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()
    row = page.locator(f'tr[data-id="{study_id}"]')
    expect(row).to_contain_text("browser-study")
    expect(row).to_contain_text("4 succeeded")
    # Not cramped: table cells have room around them (the browser default is 1 px).
    padding = row.locator("td").first.evaluate("td => parseFloat(getComputedStyle(td).paddingLeft)")
    assert padding >= 8, padding
    shot(page, "studies")
    row.get_by_role("link", name="browser-study").click()

    expect(page.get_by_role("heading", name="browser-study")).to_be_visible()
    cells = page.locator("table.study-cells tbody tr")
    expect(cells).to_have_count(2)
    expect(cells.first).to_have_attribute("data-cell", "a2m.enabled=true")
    # Sorting by the final accuracy puts the better cell first (descending for accuracies).
    means = {c["values"]["a2m.enabled"]: c["metrics"]["final_val_acc"]["mean"] for c in results["cells"]}
    best = max(means, key=lambda k: means[k])
    page.locator('button[data-sort="final_val_acc"]').click()
    expect(cells.first).to_have_attribute("data-cell", f"a2m.enabled={str(best).lower()}")

    (pair,) = results["paired"]
    delta = pair["metrics"]["final_val_acc"]["mean"]
    expect(page.locator("table.study-paired tbody tr")).to_have_count(1)
    expect(page.locator("table.study-paired [data-delta]")).to_contain_text(f"{delta * 100:.2f}%")
    # The eigenvalue is lower-is-flatter: "on better" counts the API's `better` (not `positive`),
    # and green/red follow that direction, not the sign of Δ.
    page.get_by_label("paired-metric").select_option("hessian_eigenvalue")
    eig = pair["metrics"]["hessian_eigenvalue"]
    assert eig["n"] == 2 and eig["better"] is not None
    better_cell = page.locator("table.study-paired [data-better] span")
    expect(better_cell).to_have_text(f"{eig['better']}/{eig['n']}")
    if 2 * eig["better"] != eig["n"]:
        expect(better_cell).to_have_class("delta-better" if 2 * eig["better"] > eig["n"] else "delta-worse")
    if eig["mean"]:
        span = page.locator("table.study-paired [data-delta] > span").first
        expect(span).to_have_class("delta-better" if eig["mean"] < 0 else "delta-worse")

    expect(page.locator(".study-curves .chart")).to_have_attribute("data-points", "2")
    page.get_by_label("scatter-x").select_option("hessian_eigenvalue")
    expect(page.locator("svg.scatter")).to_have_attribute("data-points", "4")
    expect(page.locator("svg.scatter circle.scatter-point")).to_have_count(4)
    expect(page.locator("table.study-children tbody tr")).to_have_count(4)
    # The scatter's ticks fall on round values (they were the padded extremes, e.g. 11.69 %).
    for axis in ("x", "y"):
        ticks = [
            float(v)
            for v in page.locator(f"svg.scatter text.tick-{axis}").evaluate_all(
                "els => els.map(e => e.dataset.value)"
            )
        ]
        assert len(ticks) >= 3 and is_round_step(ticks), (axis, ticks)
    shot(page, "study")

    first_child = study["children"][0]["search_id"]
    page.locator(f'table.study-children tr[data-search="{first_child}"]').get_by_role(
        "link", name="open"
    ).click()
    expect(page).to_have_url(f"{live_service.base_url}/dashboard/searches/{first_child}")

    # The children in the searches list: long names stay on one line, whole in their tooltip.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("link", name="Searches").first.click()
    link = page.locator(f'table.searches tr[data-id="{first_child}"] .col-name a')
    expect(link).to_have_attribute(
        "title", study["children"][0]["name"] if "name" in study["children"][0] else re.compile(r"\[.+\]")
    )
    one_line = link.evaluate(
        "a => a.getBoundingClientRect().height < 1.8 * parseFloat(getComputedStyle(a).fontSize)"
    )
    assert one_line, "the child's name wraps"
    shot(page, "study-children-list")
