"""The dashboard papercuts of a user's first hour, in headless Chromium against the live service:
list dates, sorting, seed/duration columns and CSV export; the α scale and epoch labels; why a
flatness metric is missing; compare's settings warning, flatness table and arch strings; live step
loss; a cancelled search's empty panels and buttons; the submit form's extra sections, number
checks and paste mode. Screenshots go to tests/artifacts/ for people to look at."""

from __future__ import annotations

import csv
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_dashboard import SEARCH_TIMEOUT_MS, enter_key, shot  # noqa: E402
from tests.integration.test_client import SPEC  # noqa: E402

pytestmark = pytest.mark.browser

# The client tests' tiny NB201 search (neighbourhood and ranking stability off), tagged for here.
TINY: dict[str, Any] = {**SPEC, "tags": ["browser-first-hour"]}
PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]


def _wait_done(live_service: Any, ids: list[str], timeout: float = SEARCH_TIMEOUT_MS / 1000) -> None:
    deadline = time.monotonic() + timeout
    with live_service.client() as client:
        for search_id in ids:
            while (status := client.get(f"/searches/{search_id}").json()["status"]) not in (
                "succeeded",
                "failed",
                "cancelled",
            ):
                assert time.monotonic() < deadline, f"{search_id} still {status}\n{live_service.logs()}"
                time.sleep(0.5)
            assert status == "succeeded", live_service.logs()


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_list_search_and_compare_pages(live_service: Any, page: Page, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    with live_service.client() as client:
        made = [
            client.post("/searches", json={**TINY, "name": f"hour-{tag}-seed{seed}", "seed": seed}).json()[
                "id"
            ]
            for seed in (2, 1)
        ]
    _wait_done(live_service, made)
    enter_key(page, live_service.base_url, live_service.api_key)

    # --- list: seed and duration columns, dates with times, sorting, CSV -------------------------
    rows = page.locator("table.searches tbody tr", has_text=f"hour-{tag}")
    expect(rows).to_have_count(2)
    first = page.locator(f'table.searches tr[data-id="{made[0]}"]')
    expect(first.locator('[data-col="seed"]')).to_have_text("2")
    expect(first.locator('[data-col="created"]')).to_have_text(re.compile(r"\w+ \d+, \d\d:\d\d:\d\d"))
    expect(first.locator('[data-col="duration"]')).not_to_have_text("–")
    seed_header = page.locator('th[data-sort="seed"]')
    seed_header.get_by_role("button").click()
    expect(seed_header).to_have_attribute("aria-sort", "ascending")
    order = [r.get_attribute("data-id") for r in page.locator("table.searches tbody tr[data-id]").all()]
    assert order.index(made[1]) < order.index(made[0])  # seed 1 before seed 2
    seed_header.get_by_role("button").click()
    expect(seed_header).to_have_attribute("aria-sort", "descending")
    order = [r.get_attribute("data-id") for r in page.locator("table.searches tbody tr[data-id]").all()]
    assert order.index(made[0]) < order.index(made[1])
    with page.expect_download() as download_info:
        page.locator('[data-action="export-csv"]').click()
    saved = tmp_path / "searches.csv"
    download_info.value.save_as(saved)
    exported = {r["id"]: r for r in csv.DictReader(saved.open())}
    assert exported[made[0]]["seed"] == "2" and exported[made[1]]["seed"] == "1"
    assert int(exported[made[0]]["duration_s"]) >= 0 and exported[made[0]]["status"] == "succeeded"
    shot(page, "list-sorted")

    # --- search page: α on a fixed scale with epoch labels, why metrics are missing -------------
    page.locator(f'table.searches tr[data-id="{made[1]}"] .col-name a').click()
    expect(page.locator(".search-head h1 .badge.status")).to_have_attribute("data-status", "succeeded")
    # Two tiny epochs leave α near-uniform: stretched automatically, and the key says so.
    key = page.locator(".alpha-key .colorbar-label").first
    expect(key).to_have_attribute("data-scale", re.compile("fixed|auto"))
    expect(key).to_contain_text(re.compile(r"^(weight 0|auto-stretched)"))
    expect(page.locator(".heat-epochs").first.locator("span")).to_have_text(["0", "1"])
    page.get_by_label("stretch colours to the observed range").check()
    expect(page.locator(".alpha-key .colorbar-label").first).to_have_attribute("data-scale", "stretched")
    nb = page.locator('.panel-empty[data-kind="Neighbourhood profile"]')
    expect(nb).to_contain_text("switched off in the spec (flatness.neighbourhood: false)")
    ranking = page.locator('.panel-empty[data-kind^="Ranking stability"]')
    expect(ranking).to_contain_text("switched off in the spec (flatness.ranking_stability: false)")
    expect(page.locator('.flat-chart[data-kind="hessian_eigenvalue"] [data-latest]')).to_contain_text(
        "epoch 1:"
    )
    # the estimate's residual, and whether it converged (residual ≤ 0.1), beside the value
    residual = page.locator('.flat-chart[data-kind="hessian_eigenvalue"] [data-residual]')
    expect(residual).to_contain_text(re.compile(r"residual \d"))
    expect(residual).to_have_attribute("data-converged", re.compile(r"^(true|false)$"))
    with live_service.client() as client:
        samples = client.get(f"/searches/{made[1]}").json()["spec"]["flatness"]["neighbour_samples"]
    expect(page.locator("#nb-samples")).to_have_attribute("placeholder", str(samples))
    expect(page.locator("#nb-samples-hint")).to_contain_text("flatness.neighbour_samples")
    expect(page.locator('[data-action="download-genotype"]')).to_be_enabled()
    shot(page, "search-first-hour")

    # --- compare: settings warning, flatness side by side, full arch strings, highlight colour --
    page.goto(f"{live_service.base_url}/dashboard/compare?ids={made[0]},{made[1]}")
    warning = page.locator(".spec-diff")
    expect(warning).to_contain_text("Not run with the same settings: 1 spec field differ")
    expect(warning.locator('tr[data-field="seed"] td')).to_have_text(["2", "1"])
    hessian = page.locator('.flat-compare tr[data-metric="hessian_eigenvalue"] td')
    expect(hessian).to_have_count(2)
    for cell in hessian.all():
        expect(cell).to_have_text(re.compile(r"^-?\d.* @1$"))
    expect(page.locator(".flat-compare tr[data-metric='neighbourhood_r1'] td").first).to_have_text(
        "not computed"
    )
    arch = page.locator("code.arch-str")
    expect(arch).to_have_count(2)
    assert all(text.count("|") >= 6 and "~" in text for text in arch.all_text_contents())
    # Wrapped, never cut: every character is inside the box (no horizontal scrolling needed).
    assert arch.evaluate_all("els => els.every(e => e.scrollWidth <= e.clientWidth + 1)")
    halo = page.evaluate(
        """() => {
            const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
            const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
            path.setAttribute("class", "edge-halo");
            svg.append(path);
            document.body.append(svg);
            const stroke = getComputedStyle(path).stroke;
            svg.remove();
            return stroke;
        }"""
    )
    assert halo not in {_rgb(c) for c in PALETTE}, halo
    shot(page, "compare-first-hour")


def test_live_step_loss_then_a_cancelled_search_says_why(live_service: Any, page: Page) -> None:
    spec = {
        **TINY,
        "name": f"hour-live-{secrets.token_hex(3)}",
        "dataset": {"name": "digits", "subset": 1200, "image_size": 8},
        "epochs": 40,
    }
    with live_service.client() as client:
        search = client.post("/searches", json=spec).json()
    enter_key(page, live_service.base_url, live_service.api_key)
    page.goto(f"{live_service.base_url}/dashboard/searches/{search['id']}")
    expect(page.locator(".search-head h1 .badge.status")).to_have_attribute(
        "data-status", "running", timeout=SEARCH_TIMEOUT_MS
    )
    # Step losses arrive on the event stream: the loss chart has points before any epoch row.
    loss = page.locator('[data-chart="loss"] .chart')
    expect(loss).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=60_000)
    expect(page.locator('[data-chart="loss"]')).to_contain_text("step loss (live)")
    expect(page.locator(".progress-text")).to_contain_text(re.compile(r"epoch \d+ of 0–39"))
    shot(page, "search-live-steps")

    with live_service.client() as client:
        assert client.post(f"/searches/{search['id']}/cancel").status_code in (200, 202)
        expect(page.locator(".search-head h1 .badge.status")).to_have_attribute(
            "data-status", "cancelled", timeout=60_000
        )
        epochs = client.get(f"/searches/{search['id']}/curves").json()["items"]
    page.reload()
    expect(page.locator(".search-head h1 .badge.status")).to_have_attribute("data-status", "cancelled")
    if epochs:  # the first epoch ended before the cancel: its data is there to download
        expect(page.locator('[data-action="download-curves"]')).to_be_enabled()
    else:
        expect(page.locator(".ended-note").first).to_contain_text("cancelled before its first epoch ended")
        expect(page.locator('[data-action="download-curves"]')).to_be_disabled()
        expect(page.locator('[data-action="download-genotype"]')).to_be_disabled()
    expect(page.locator('[data-action="retry"]')).to_be_enabled()
    shot(page, "search-cancelled-first-hour")


def test_submit_form_sections_number_checks_and_paste_mode(live_service: Any, page: Page) -> None:
    enter_key(page, live_service.base_url, live_service.api_key)
    page.get_by_role("link", name="New search").first.click()
    page.locator("details.advanced > summary").click()
    # A typo in a number is flagged at its field as it is typed, before anything is sent.
    lr = page.get_by_label("Weight learning rate")
    lr.fill("0.0.1")
    box = page.locator('.field[data-field="optim.w_lr"]')
    expect(box.locator(".field-error")).to_have_text("not a number (e.g. 0.025 or 3e-4)")
    expect(lr).to_have_attribute("aria-invalid", "true")
    lr.fill("3e-3")
    expect(box.locator(".field-error")).to_have_text("")
    # The new sections reach the API: its error for a flatness field lands at that field.
    page.get_by_label("Power iterations").fill("0")
    page.get_by_label("Precision").select_option("bf16")
    page.get_by_role("button", name="Submit search").click()
    iterations = page.locator('.field[data-field="flatness.power_iterations"] .field-error')
    expect(iterations).to_contain_text("greater than or equal to 1")
    shot(page, "submit-sections")

    # Paste mode: a YAML spec goes to the API as it is; its errors are listed at the text.
    page.get_by_label("Paste a YAML/JSON spec").check()
    text = page.get_by_label("Spec (YAML or JSON)")
    name = f"hour-paste-{secrets.token_hex(3)}"
    text.fill(f"name: {name}\nepochs: 0\n")
    page.get_by_role("button", name="Submit search").click()
    expect(page.locator('.field[data-field="spec-text"] .field-error')).to_contain_text("epochs:")
    shot(page, "submit-paste-error")
    text.fill(f"name: {name}\nseed: 7\nepochs: 1\ndataset: {{name: digits, subset: 64, image_size: 8}}\n")
    page.get_by_role("button", name="Submit search").click()
    expect(page.locator("table.searches tbody tr", has_text=name)).to_have_count(1)
    with live_service.client() as client:
        stored = client.get("/searches", params={"q": name}).json()["items"][0]
        client.post(f"/searches/{stored['id']}/cancel")  # keep the shared worker free
    assert stored["seed"] == 7 and stored["epochs"] == 1
