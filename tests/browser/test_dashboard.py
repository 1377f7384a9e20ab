"""The dashboard in real headless Chromium against the live service (API + a real Celery worker).

A user enters their key once, submits a tiny NB201 search from the form, watches the list update
without reloading, opens the search page (curves, cell diagram, α heatmaps, flatness), downloads the
genotype, and compares two searches. A bad value comes back from the API as a problem document and
is shown at the field it names. Screenshots of every page go to tests/artifacts/ for people to look at.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from nas_core.genotype import DARTS_V2, genotype_to_json  # noqa: E402
from tests.unit.tiny import tiny_body  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NB201_TARGETS = [1, 2, 2, 3, 3, 3]  # edge order of an NB201 genotype: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
SEARCH_TIMEOUT_MS = 150_000

# A second, cheaper search submitted over the API so the compare page has two to overlay.
BASELINE_SPEC: dict[str, Any] = tiny_body(
    space="nb201",
    method="darts",
    a2m=None,
    dataset={"name": "digits", "subset": 128},
    flatness={"neighbourhood": False, "hessian_eigenvalue": False},
    tags=["browser-test"],
)


# The machine is shared; a page waiting on a busy API may take longer than Playwright's 5 s default.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make services` (scripts/ensure_services.sh) installs Debian's chromium"
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def enter_key(page: Page, base_url: str, key: str) -> None:
    """First visit: the key gate asks for the key once; afterwards the list loads."""
    page.goto(f"{base_url}/")
    page.get_by_label("API key", exact=True).first.fill(key)
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("heading", name="Searches")).to_be_visible()
    assert page.evaluate("localStorage.getItem('flatnas.apiKey')") == key


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def painted_pixels(page: Page, selector: str, rgb: tuple[int, int, int]) -> int:
    """Pixels of `selector`'s canvas within a small distance of `rgb`: proof something was drawn."""
    return page.eval_on_selector(
        selector,
        """(canvas, [r, g, b]) => {
            const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
                if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60) n++;
            return n;
        }""",
        list(rgb),
    )


def test_bad_values_are_shown_at_their_fields(live_service: Any, page: Page) -> None:
    enter_key(page, live_service.base_url, live_service.api_key)
    page.get_by_role("link", name="New search").first.click()
    name = f"invalid-{secrets.token_hex(3)}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Epochs").fill("0")
    page.locator("details.advanced > summary").click()
    page.get_by_label("Initial channels (C)").fill("999")
    page.get_by_role("button", name="Submit search").click()

    # The messages are the API's own, for the fields it names.
    bad = {"name": name, "epochs": 0, "supernet": {"C": 999}}
    with live_service.client() as client:
        problem = client.post("/searches", json=bad).json()
    expected = {e["field"]: e["message"] for e in problem["errors"]}
    assert set(expected) == {"epochs", "supernet.C"}
    for field, message in expected.items():
        box = page.locator(f'.field[data-field="{field}"]')
        expect(box.locator(".field-error")).to_have_text(message)
        expect(box.locator("input")).to_have_attribute("aria-invalid", "true")
    expect(page.locator('.field[data-field="name"] .field-error')).to_have_text("")
    shot(page, "submit-errors")
    with live_service.client() as client:
        assert client.get("/searches", params={"q": name}).json()["items"] == []


def _spec_default(defaults: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        defaults = defaults[key]
    return defaults


def test_the_new_search_form_and_cell_colours_come_from_the_catalog(live_service: Any, page: Page) -> None:
    enter_key(page, live_service.base_url, live_service.api_key)
    with live_service.client() as client:
        catalog = client.get("/catalog").json()
    page.get_by_role("link", name="New search").first.click()
    page.locator("details.advanced > summary").click()

    # One switch per spec.flatness flag, labelled, hinted and defaulted as the catalog says.
    controls = page.locator('.extra-section[data-section="flatness"] select[data-bool]').evaluate_all(
        """els => els.map(e => {
            const box = e.closest(".field");
            return [e.dataset.path, box.querySelector("label").textContent,
                    box.querySelector(".hint")?.textContent ?? "", e.options[0].textContent, e.title];
        })"""
    )
    assert controls == [
        [
            f"flatness.{s['name']}",
            s["label"],
            s["hint"],
            f"default ({str(s['default']).lower()})",
            s["description"],
        ]
        for s in catalog["flatness_switches"]
    ]
    assert [c[0] for c in controls] == list(
        dict.fromkeys(f"flatness.{m['switch']}" for m in catalog["metrics"] if m["switch"])
    )
    # Placeholders are the spec's defaults; the depth field's is the chosen space's.
    numbers = page.locator(".advanced input[data-path]").evaluate_all(
        "els => els.map(e => [e.dataset.path, e.placeholder])"
    )
    assert len(numbers) >= 10
    for path, placeholder in numbers:
        default = _spec_default(catalog["spec_defaults"], path)
        wanted = "all" if default is None else default  # "all": keep every checkpoint
        assert (placeholder if default is None else float(placeholder)) == wanted, path
    for label, path in [
        ("Batch size", "batch_size"),
        ("Initial channels (C)", "supernet.C"),
        ("Seed", "seed"),
    ]:
        assert float(page.get_by_label(label).get_attribute("placeholder") or "") == _spec_default(
            catalog["spec_defaults"], path
        )
    spaces = {s["name"]: s for s in catalog["spaces"]}
    for name, space in spaces.items():
        page.get_by_label("Search space").select_option(name)
        depth = page.locator(f'.field[data-field="supernet.{space["depth_field"]}"]')
        expect(depth).to_be_visible()
        expect(depth.locator("input")).to_have_attribute("placeholder", str(space["default_depth"]))
    # Image size is offered for the generated data sets only, as the catalog marks them.
    generated = [d["name"] for d in catalog["datasets"] if not d["file_backed"]]
    image = page.locator('.field[data-field="dataset.image_size"]')
    expect(image.locator(".hint")).to_have_text(f"{' / '.join(generated)} only")
    page.get_by_label("Dataset").select_option(generated[0])
    expect(image).to_be_visible()
    shot(page, "submit-advanced")

    # Cell colours: by place in each space's ops ("none" faint), distinct within a space; the short
    # labels of a "nodes" cell are read off the op names, not kept in a table.
    colours = page.evaluate(
        """async (spaces) => {
            const cell = await import("/static/js/cell.js");
            return spaces.map(sp => sp.ops_variants.default.map(op => cell.opColor(op, sp.name)));
        }""",
        catalog["spaces"],
    )
    for space, drawn in zip(catalog["spaces"], colours, strict=True):
        ops = space["ops_variants"]["default"]
        named = {op: c for op, c in zip(ops, drawn, strict=True) if op != "none"}
        assert len(set(named.values())) == len(named), (space["name"], named)
        assert all(c == "#9ca3af" for op, c in zip(ops, drawn, strict=True) if op == "none")
    darts = genotype_to_json(DARTS_V2)
    legend = page.evaluate(
        """async (doc) => {
            const cell = await import("/static/js/cell.js");
            const fig = cell.genotypeFigure(doc);
            return [...fig.querySelectorAll(".op-legend li")].map(li => li.textContent);
        }""",
        darts,
    )
    assert "sep3 sep_conv_3x3" in legend and "skip skip_connect" in legend, legend


def test_submit_watch_inspect_download_compare(live_service: Any, page: Page, tmp_path: Path) -> None:
    base = live_service.base_url
    enter_key(page, base, live_service.api_key)

    # --- submit a tiny search from the form (advanced section for the tiny sizes) ---------------
    name = f"browser-{secrets.token_hex(3)}"
    page.get_by_role("link", name="New search").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Search space").select_option("nb201")
    page.get_by_label("Method").select_option("darts")
    expect(page.get_by_label("Architecture-Aware Minimization (A2M)")).to_be_checked()
    page.get_by_label("Dataset").select_option("digits")
    page.get_by_label("Epochs").fill("3")
    page.locator("details.advanced > summary").click()
    page.get_by_label("Batch size").fill("16")
    page.get_by_label("Initial channels (C)").fill("4")
    page.get_by_label("Cells per stage (N)").fill("1")
    page.get_by_label("Seed").fill("1")
    page.get_by_label("Training subset (images)").fill("192")
    page.get_by_label("Tags").fill("browser-test, tiny")
    page.get_by_role("button", name="Submit search").click()

    # Back on the list, with the new row; mark the window to prove nothing reloads from here on.
    new_row = page.locator("table.searches tbody tr", has_text=name)
    expect(new_row).to_have_count(1)
    page.evaluate("window.__noReload = 'still-here'")
    search_id = new_row.get_attribute("data-id")
    assert search_id
    row = page.locator(f'table.searches tr[data-id="{search_id}"]')
    with live_service.client() as client:
        stored = client.get(f"/searches/{search_id}").json()
        baseline = client.post("/searches", json={**BASELINE_SPEC, "name": f"{name}-baseline"}).json()
    assert stored["spec"]["supernet"] == {**stored["spec"]["supernet"], "C": 4, "N": 1}
    assert stored["spec"]["dataset"]["subset"] == 192 and stored["spec"]["tags"] == ["browser-test", "tiny"]
    expect(row.locator(".badge.a2m")).to_be_visible()

    # --- the list updates live: status and progress change with no reload ----------------------
    # The shared worker may still be busy with another test's search: allow for a wait in the queue.
    expect(row).to_have_attribute("data-status", re.compile("running|succeeded"), timeout=SEARCH_TIMEOUT_MS)
    expect(row.locator('[role="progressbar"]')).not_to_have_attribute("aria-valuenow", "0", timeout=60_000)
    expect(row.locator(".progress-text")).to_contain_text("epoch", timeout=30_000)
    shot(page, "list-live")
    # The baseline, submitted elsewhere, appears without a reload too.
    expect(page.locator("table.searches tbody tr", has_text=f"{name}-baseline")).to_have_count(
        1, timeout=15_000
    )
    assert page.evaluate("window.__noReload") == "still-here"

    # --- the search page: live curves, cell diagram, α, flatness --------------------------------
    row.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    assert page.evaluate("window.__noReload") == "still-here"  # client-side navigation
    status = page.locator(".search-head h1 .badge.status")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=SEARCH_TIMEOUT_MS)
    assert page.evaluate("window.__noReload") == "still-here"

    loss = page.locator('[data-chart="loss"] .chart')
    # Three epochs, plus the per-step losses the page saw live while the search ran.
    expect(loss).to_have_attribute("data-points", re.compile(r"^([3-9]|\d\d+)$"), timeout=15_000)
    expect(page.locator('[data-chart="accuracy"] .chart')).to_have_attribute("data-points", "3")
    assert painted_pixels(page, '[data-chart="loss"] canvas', (37, 99, 235)) > 100  # train: #2563eb
    assert painted_pixels(page, '[data-chart="loss"] canvas', (220, 38, 38)) > 100  # val: #dc2626

    with live_service.client() as client:
        curves = client.get(f"/searches/{search_id}/curves").json()["items"]
        last_epoch = curves[-1]["epoch"]
        current = client.get(f"/searches/{search_id}/genotype", params={"epoch": last_epoch}).json()
        final = client.get(f"/searches/{search_id}/genotype").json()
    assert [c["epoch"] for c in curves] == [0, 1, 2]
    cell = page.locator('[data-genotype="current"] svg.cell-diagram[data-cell="cell"]')
    expect(cell.locator("g.cell-node")).to_have_count(4)
    expect(cell.locator("g.cell-edge")).to_have_count(6)
    drawn = cell.locator("g.cell-edge").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.dataset.op, e.dataset.from, e.dataset.to])"
    )
    wanted = [
        [f"cell:{i}", op, str(src), str(NB201_TARGETS[i])]
        for i, (op, src) in enumerate(current["genotype"]["edges"])
    ]
    assert drawn == wanted
    labels = cell.locator("text.edge-label").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.lastChild.textContent])"
    )
    assert labels == [[f"cell:{i}", op] for i, (op, _) in enumerate(current["genotype"]["edges"])]
    expect(page.locator('[data-genotype="best"] svg.cell-diagram g.cell-edge')).to_have_count(6)
    expect(page.locator('.heat-grid[data-group="cell"] canvas.heat')).to_have_count(6)
    expect(page.locator('.flat-chart[data-kind="hessian_eigenvalue"] .chart')).to_have_attribute(
        "data-points", "1"
    )
    expect(page.locator('[data-kind="neighbourhood"] tbody tr')).to_have_count(2)
    expect(page.locator('[data-kind="cell_shape"] .tile').first).to_be_visible()
    shot(page, "search")

    # --- download the genotype JSON (an authenticated fetch saved as a file) --------------------
    with page.expect_download() as info:
        page.locator('[data-action="download-genotype"]').click()
    download = info.value
    assert download.suggested_filename.endswith(".genotype.json")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert json.loads(saved.read_text()) == final
    assert final["space"] == "nb201" and final["search_id"] == search_id and final["arch_str"].startswith("|")

    # --- the curves CSV is the API's CSV, byte for byte -----------------------------------------
    with page.expect_download() as info:
        page.locator('[data-action="download-curves"]').click()
    csv_file = tmp_path / "curves.csv"
    info.value.save_as(csv_file)
    with live_service.client() as client:
        served_csv = client.get(f"/searches/{search_id}/curves", params={"format": "csv"})
    assert served_csv.headers["content-type"].startswith("text/csv")
    assert csv_file.read_bytes() == served_csv.content
    assert csv_file.read_text().count("\n") == 1 + len(curves)  # header + one row per epoch

    # --- compare the two searches --------------------------------------------------------------
    with live_service.client() as client:
        for _ in range(120):
            if client.get(f"/searches/{baseline['id']}").json()["status"] == "succeeded":
                break
            page.wait_for_timeout(1000)
        other = client.get(f"/searches/{baseline['id']}/genotype", params={"which": "best"}).json()
        mine = client.get(f"/searches/{search_id}/genotype", params={"which": "best"}).json()
    page.get_by_role("link", name="Searches").first.click()
    for sid in (search_id, baseline["id"]):
        page.locator(f'table.searches tr[data-id="{sid}"] input[type="checkbox"]').check()
    expect(page.locator(f'table.searches tr[data-id="{baseline["id"]}"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    shot(page, "list")
    page.get_by_role("button", name="Compare 2").click()
    expect(page.get_by_role("heading", name="Compare searches")).to_be_visible()
    expect(page.locator('[data-chart="Validation accuracy"] .chart')).to_have_attribute("data-points", "3")
    columns = page.locator(".geno-row .geno-col")
    expect(columns).to_have_count(2)
    differing = {
        i
        for i, (a, b) in enumerate(zip(mine["genotype"]["edges"], other["genotype"]["edges"], strict=True))
        if a != b
    }
    for sid in (search_id, baseline["id"]):
        keys = page.locator(f'.geno-col[data-id="{sid}"] g.cell-edge.edge-diff').evaluate_all(
            "els => els.map(e => e.dataset.key)"
        )
        assert sorted(keys) == sorted(f"cell:{i}" for i in differing)
    shot(page, "compare")
    assert page.evaluate("window.__noReload") == "still-here"

    compute_barrier_matrix(live_service, page, [search_id, baseline["id"]])
    neighbourhood_on_demand(live_service, page, baseline["id"])
    assert page.evaluate("window.__noReload") == "still-here"


def compute_barrier_matrix(live_service: Any, page: Page, ids: list[str]) -> None:
    """Compute the matrix from the compare page; the drawn cells are GET /landscape-jobs/{id}'s values."""
    section = page.locator('[data-section="barriers"]')
    expect(section.locator(".empty")).to_contain_text("No barriers computed")
    # A refused request comes back as problem details, shown with the field the API names.
    section.get_by_label("Edit paths").fill("99")
    section.get_by_role("button", name="Compute barrier matrix").click()
    refusal = section.locator(".job-error .error-box")
    expect(refusal).to_contain_text("The barrier matrix was not started")
    expect(refusal.locator('li[data-field="paths"]')).to_contain_text("less than or equal to 24")
    shot(page, "compare-barrier-refused")
    section.get_by_label("Edit paths").fill("2")

    # Every status the page shows on the way is recorded, so the live updates are checked too.
    status = section.locator(".job-status")
    page.evaluate(
        """el => { window.__jobStatuses = [];
            new MutationObserver(() => { const s = el.dataset.status;
                if (s && window.__jobStatuses.at(-1) !== s) window.__jobStatuses.push(s); })
            .observe(el, {attributes: true, attributeFilter: ['data-status']}); }""",
        status.element_handle(),
    )
    section.get_by_role("button", name="Compute barrier matrix").click()
    expect(status).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(refusal).to_have_count(0)
    seen = page.evaluate("window.__jobStatuses")
    assert seen[0] == "queued" and seen[-1] == "succeeded", seen
    job_id = status.get_attribute("data-job")
    with live_service.client() as client:
        job = client.get(f"/landscape-jobs/{job_id}").json()
    assert job["kind"] == "barrier_matrix" and job["search_ids"] == ids and job["params"]["paths"] == 2
    matrix = job["result"]["matrix"]
    expect(status).to_contain_text(f"job {job_id}")
    assert "null" not in status.inner_text() and "undefined" not in status.inner_text()

    def drawn() -> dict[tuple[str, str], tuple[float, str]]:
        cells = section.locator("table.barrier-matrix tbody td").evaluate_all(
            "els => els.map(e => [e.dataset.a, e.dataset.b, e.dataset.value, e.textContent])"
        )
        return {(a, b): (float(v), text) for a, b, v, text in cells}

    table = section.locator("table.barrier-matrix")
    expect(table).to_have_attribute("data-metric", "acc_barrier_mean")
    acc = drawn()
    assert set(acc) == {(a, b) for a in ids for b in ids}
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            value = matrix["acc_barrier_mean"][i][j]
            assert acc[a, b][0] == value
            # Shown in percentage points to 2 decimals (JS rounds ties up, Python to even: compare numerically).
            text = acc[a, b][1]
            assert (
                text == "0"
                if i == j
                else (len(text.split(".")[1]) == 2 and abs(float(text) - value * 100) <= 0.005 + 1e-9)
            )
    off = section.locator(f'td[data-a="{ids[0]}"][data-b="{ids[1]}"]')
    tip = off.get_attribute("title") or ""
    assert f"loss barrier: mean {matrix['loss_barrier_mean'][0][1]:.4f}" in tip
    assert f"edit distance: {matrix['distance'][0][1]}" in tip
    shot(page, "compare-barriers")

    # The loss barrier, picked from the toggle, is drawn from the same result.
    section.get_by_label("Show").select_option("loss_barrier_mean")
    expect(table).to_have_attribute("data-metric", "loss_barrier_mean")
    loss = drawn()
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            value = matrix["loss_barrier_mean"][i][j]
            assert loss[a, b][0] == value
            assert loss[a, b][1] == "0" if i == j else abs(float(loss[a, b][1]) - value) <= 0.0005 + 1e-9


def neighbourhood_on_demand(live_service: Any, page: Page, search_id: str) -> None:
    """The baseline computed no neighbourhood; the search page's action runs one and redraws the panel."""
    page.locator(f'.compare-table tr[data-id="{search_id}"] a').click()
    panel = page.locator('[data-kind="neighbourhood"]')
    expect(page.locator('.panel-empty[data-kind="Neighbourhood profile"]')).to_be_visible()
    page.get_by_label("Neighbours per radius").fill("2")
    page.get_by_role("button", name="Compute neighbourhood").click()
    status = page.locator('.job-status[data-job-kind="neighbourhood"]')
    expect(status).to_have_attribute("data-status", "succeeded", timeout=60_000)
    rows = panel.locator('.nb-group[data-source="on_demand"] tbody tr')
    expect(rows).to_have_count(2)
    with live_service.client() as client:
        records = client.get(f"/searches/{search_id}/flatness", params={"kind": "neighbourhood"}).json()
        best = client.get(f"/searches/{search_id}/genotype", params={"which": "best"}).json()
    by_radius = {r["value"]["radius"]: r for r in records["items"]}
    assert sorted(by_radius) == [1, 2]
    for radius, record in by_radius.items():
        assert record["params"]["source"] == "on_demand" and record["epoch"] == best["epoch"]
        row = panel.locator(f'.nb-group[data-source="on_demand"] tr[data-radius="{radius}"] td')
        expect(row.first).to_have_text(str(record["value"]["evaluated"]))
    expect(panel.locator(".nb-title")).to_have_text(f"on demand: best genotype (epoch {best['epoch']})")
    shot(page, "search-neighbourhood")


def test_cancel_and_retry_from_the_search_page(live_service: Any, page: Page) -> None:
    enter_key(page, live_service.base_url, live_service.api_key)
    spec = {**BASELINE_SPEC, "name": f"browser-cancel-{secrets.token_hex(3)}", "epochs": 40}
    with live_service.client() as client:
        search = client.post("/searches", json=spec).json()
    # The list re-renders on every progress event; its rows are morphed in place, so the link
    # stays the node Playwright clicks. The page must then be the search's own.
    page.locator(f'table.searches tr[data-id="{search["id"]}"] a', has_text=spec["name"]).click()
    expect(page).to_have_url(f"{live_service.base_url}/dashboard/searches/{search['id']}")
    badge = page.locator(".search-head h1 .badge.status")
    cancel = page.locator('[data-action="cancel"]')
    retry = page.locator('[data-action="retry"]')
    expect(retry).to_be_disabled()

    expect(badge).to_have_attribute("data-status", "running", timeout=SEARCH_TIMEOUT_MS)
    cancel.click()
    expect(page.locator(".toast")).to_contain_text("Cancellation requested")
    expect(badge).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(cancel).to_be_disabled()
    expect(retry).to_be_enabled()
    shot(page, "search-cancelled")

    retry.click()
    expect(page.locator(".toast", has_text="re-queued")).to_be_visible()
    expect(badge).to_have_attribute("data-status", re.compile("queued|running|retrying"))
    expect(retry).to_be_disabled()
    # Cancel the retried run too, so the shared worker is free for the rest of the suite.
    expect(cancel).to_be_enabled()
    cancel.click()
    expect(badge).to_have_attribute("data-status", "cancelled", timeout=60_000)
    with live_service.client() as client:
        stored = client.get(f"/searches/{search['id']}").json()
    assert stored["status"] == "cancelled", stored
