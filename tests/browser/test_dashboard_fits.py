"""The dashboard fits its page and tells the truth (issue 25.5), in headless Chromium against the
live service: the New-search form defaults to a data set the service reports it can run and to a
small epoch count; a one-epoch search draws its epoch axis 0–1, with loss ticks on round values
and near-uniform α auto-stretched (and saying so); the list fits 1400 px with Duration in view;
evaluation placeholders fit their inputs; DARTS inputs are c with a subscript, not TeX; after a
401 the header says the key is refused. Screenshots go to tests/artifacts/dashboard-fit-*.png.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_dashboard import SEARCH_TIMEOUT_MS, enter_key, shot  # noqa: E402
from tests.unit.tiny import tiny_body  # noqa: E402

pytestmark = pytest.mark.browser

# One epoch of a few dozen steps: long enough to be seen running, short on a shared machine.
ONE_EPOCH: dict[str, Any] = tiny_body(
    space="nb201",
    method="darts",
    dataset={"name": "digits", "subset": 1024},
    epochs=1,
    batch_size=8,
    flatness={"neighbourhood": False, "hessian_eigenvalue": False, "ranking_stability": False},
    tags=["browser-fit"],
)
# A DARTS genotype (the paper's DARTS-V2 normal cell) drawn by the page's own modules.
DARTS_DOC = {
    "space": "darts",
    "genotype": {
        "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
                   ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
        "normal_concat": [2, 3, 4, 5],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
                   ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
        "reduce_concat": [2, 3, 4, 5],
    },
}  # fmt: skip


def is_round_step(ticks: list[float]) -> bool:
    """Evenly spaced ticks 1, 2, 2.5 or 5 × 10^k apart, each a multiple of that step."""
    if len(ticks) < 2:
        return True
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    even = all(math.isclose(b - a, step, rel_tol=1e-6, abs_tol=1e-9) for a, b in itertools.pairwise(ticks))
    multiples = all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)
    return even and multiples and any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))


def test_is_round_step_refuses_the_old_ticks() -> None:
    # The study scatter used to place five ticks evenly between the data's padded extremes.
    assert not is_round_step([0.0812, 0.1169, 0.1526])
    assert is_round_step([0.1, 0.15, 0.2]) and is_round_step([2.25, 2.5, 2.75])


def test_form_live_search_list_and_key_state(live_service: Any, page: Page) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    enter_key(page, live_service.base_url, live_service.api_key)
    with live_service.client() as client:
        reported = client.get("/datasets").json()["items"]
        search = client.post("/searches", json={**ONE_EPOCH, "name": f"fit-{secrets.token_hex(3)}"}).json()
    runnable = [d["name"] for d in reported if d["available"]]
    assert "digits" in runnable and "cifar10" not in runnable  # the test service has no CIFAR files

    # --- New search: a data set the service can run, a small epoch count ------------------------
    page.get_by_role("link", name="New search").first.click()
    expect(page.get_by_label("Dataset")).to_have_value("cifar10" if "cifar10" in runnable else runnable[0])
    expect(page.get_by_label("Epochs")).to_have_value("10")
    for item in reported:
        option = page.locator(f'select[name="dataset"] option[value="{item["name"]}"]')
        if item["available"]:
            expect(option).to_be_enabled()
        else:
            expect(option).to_be_disabled()
    shot(page, "fit-submit-form")

    # --- the live one-epoch search: epoch axis 0–1, round ticks --------------------------------
    page.goto(f"{live_service.base_url}/dashboard/searches/{search['id']}")
    badge = page.locator(".search-head h1 .badge.status")
    # (A queue wait behind other tests' searches is allowed for; the axis is checked either way.)
    expect(badge).to_have_attribute("data-status", re.compile("running|succeeded"), timeout=SEARCH_TIMEOUT_MS)
    loss = page.locator('[data-chart="loss"] .chart')
    expect(loss).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=60_000)  # step losses
    expect(loss).to_have_attribute("data-x-max", "1")
    shot(page, "fit-search-live")
    expect(badge).to_have_attribute("data-status", "succeeded", timeout=SEARCH_TIMEOUT_MS)
    for chart in ("loss", "accuracy"):
        box = page.locator(f'[data-chart="{chart}"] .chart')
        expect(box).to_have_attribute("data-x-max", "1")
        ticks = [float(t) for t in (box.get_attribute("data-y-ticks") or "").split(",") if t]
        assert ticks and is_round_step(ticks), (chart, ticks)

    # α after one epoch at the default α learning rate is near-uniform: stretched, and it says so.
    key = page.locator(".alpha-key .colorbar-label").first
    expect(key).to_have_attribute("data-scale", "auto")
    expect(key).to_contain_text("auto-stretched")
    page.get_by_label("stretch colours to the observed range").check()
    expect(page.locator(".alpha-key .colorbar-label").first).to_have_attribute("data-scale", "stretched")

    # Evaluation form: each placeholder fits its input (it used to read "protoc").
    cut = page.eval_on_selector_all(
        ".evaluate-form input[placeholder]",
        """els => els.filter(el => {
            const st = getComputedStyle(el);
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
            const room = el.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) - 16;
            return ctx.measureText(el.placeholder).width > room;
        }).map(el => [el.name, el.placeholder, el.clientWidth])""",
    )
    assert page.locator(".evaluate-form input[placeholder]").count() > 0 and cut == [], cut
    shot(page, "fit-search-done")

    # --- the list at 1400 px: no horizontal overflow, Duration in view -------------------------
    page.get_by_role("link", name="Searches").first.click()
    row = page.locator(f'table.searches tr[data-id="{search["id"]}"]')
    expect(row).to_have_attribute("data-status", "succeeded")
    fit = page.evaluate(
        """() => {
            const card = document.querySelector('table.searches').closest('.table-card');
            const th = document.querySelector('table.searches th[data-sort="duration"]');
            const td = document.querySelector('table.searches td[data-col="duration"]');
            return {scroll: card.scrollWidth, client: card.clientWidth, card: card.getBoundingClientRect().right,
                    th: th.getBoundingClientRect().right, td: td.getBoundingClientRect().right,
                    page: document.documentElement.scrollWidth, view: innerWidth};
        }"""
    )
    assert fit["scroll"] <= fit["client"], fit  # nothing to scroll sideways
    assert fit["th"] <= fit["card"] and fit["td"] <= fit["card"] and fit["page"] <= fit["view"], fit
    shot(page, "fit-list-1400")

    # --- DARTS cells and heatmap labels: c with a subscript, never TeX --------------------------
    drawn = page.evaluate(
        """async (doc) => {
            const cell = await import('/static/js/cell.js');
            const heat = await import('/static/js/heatmap.js');
            const fig = cell.genotypeFigure(doc, {title: 'darts'});
            const row = Array.from({length: 14}, () => [0.2, 0.2, 0.2, 0.2, 0.2]);
            const maps = heat.alphaHeatmaps([{epoch: 0, alphas: {normal: row, reduce: row}}], ['a','b','c','d','e']);
            const host = document.createElement('div');
            host.id = 'darts-probe';
            host.append(fig, maps);
            document.querySelector('main').append(host);
            const io = [...host.querySelectorAll('g.cell-node.node-io text.node-label')];
            return {
                text: host.textContent,
                io: io.map(t => [t.textContent, t.querySelector('tspan')?.getAttribute('baseline-shift')]),
                subs: [...host.querySelectorAll('.heat-label sub')].map(s => s.textContent),
            };
        }""",
        DARTS_DOC,
    )
    assert "{" not in drawn["text"] and "}" not in drawn["text"], drawn["text"]
    assert sorted(set(map(tuple, drawn["io"]))) == [("ck", "sub"), ("ck−1", "sub"), ("ck−2", "sub")]
    assert set(drawn["subs"]) == {"k−2", "k−1"}
    page.locator("#darts-probe").scroll_into_view_if_needed()
    shot(page, "fit-darts-labels")

    # --- a refused key: the header stops saying ✓ ------------------------------------------------
    key_button = page.locator("#key-button")
    expect(key_button).to_have_text("API key ✓")
    page.evaluate("localStorage.setItem('flatnas.apiKey', 'fnas_not-a-key')")
    page.reload()
    expect(key_button).to_have_attribute("data-key-state", "refused")
    expect(key_button).to_have_text("API key refused ✗")
    expect(page.locator("#banner")).to_contain_text("401")
    shot(page, "fit-key-refused")
