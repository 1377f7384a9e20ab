"""The dashboard draws NAS-Bench-201 ground truth: per data set, the benchmark's test accuracy of each
epoch's genotype with the optimum as a dashed line, the best/final table, and the compare page's
overlay, all from what GET /searches/{id}/benchmark serves.

The rows are what the worker's reporter writes (real lookups in the tests' benchmark through the
same GroundTruth and repository), stored straight into the live service's database so the drawing
is checked without waiting on the shared worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from nas_core.benchmarks.ground_truth import GroundTruth
from nas_core.benchmarks.nb201 import DATASETS, open_configured
from nas_core.reporter import EpochRecord
from store.db import make_engine
from store.models import Search, utcnow
from store.repositories import benchmark, results
from tests.browser.test_dashboard import browser, enter_key, page, painted_pixels, shot  # noqa: F401
from tests.fixtures import nb201_benchmark as written
from tests.fixtures.database import make_search

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

DERIVED_RGB = (37, 99, 235)  # PALETTE[0], the derived genotype's line
OPTIMUM_RGB = (220, 38, 38)  # PALETTE[1], the optimum's dashed line


def _stored_search(database_url: str, benchmark_dir: Path, name: str, indices: list[int]) -> str:
    """A finished nb201 search whose epochs derived the architectures `indices`, with the ground truth
    the worker would have written, the optimum included."""
    truth = GroundTruth(str(benchmark_dir), compute_optimum=False)
    status = truth.start("nb201")
    opened = open_configured(benchmark_dir)
    status.optimum = {name: opened.lookup_index(written.OPTIMUM).to_dict() for name in DATASETS}
    engine = make_engine(database_url)
    try:
        with Session(engine) as s:
            search = make_search(s, name=name, epochs=len(indices))
            row = s.get(Search, search.id)
            assert row is not None
            row.status, row.started_at, row.finished_at = "succeeded", utcnow(), utcnow()
            s.commit()
            search_id = search.id
        for epoch, index in enumerate(indices):
            genotype = written.genotype_json(index)
            record = EpochRecord(
                epoch=epoch,
                train_loss=2.0 - 0.1 * epoch,
                train_acc=0.3 + 0.05 * epoch,
                val_loss=2.1 - 0.1 * epoch,
                val_acc=0.25 + 0.05 * epoch,
                lr=0.025,
                seconds=1.0,
                alphas={"cell": [[0.2] * 5 for _ in range(6)]},
                genotype=genotype,
            )
            last = epoch == len(indices) - 1
            with Session(engine) as s:
                results.upsert_epoch(s, search_id, record)
                results.upsert_genotype(
                    s, search_id, genotype, epoch=epoch, is_best=epoch == 1, is_final=last
                )
                benchmark.record_lookups(
                    s, search_id, truth.rows_for(genotype, epoch=epoch, is_best=epoch == 1)
                )
                if last:
                    benchmark.record_lookups(
                        s, search_id, truth.rows_for(genotype, epoch=epoch, is_final=True)
                    )
                benchmark.record_status(s, search_id, status)
                s.commit()
        return search_id
    finally:
        engine.dispose()


def test_ground_truth_is_drawn_on_the_search_and_compare_pages(
    live_service: Any,
    page: Page,  # noqa: F811 - the dashboard tests' fixture
    nb201_benchmark_dir: Path,
) -> None:
    first = _stored_search(live_service.database_url, nb201_benchmark_dir, "gt-first", [10, 4321, 77, 77])
    second = _stored_search(live_service.database_url, nb201_benchmark_dir, "gt-second", [9999, 5, 5])
    with live_service.client() as client:
        body = client.get(f"/searches/{first}/benchmark").json()
    assert body["status"]["state"] == "ready" and len(body["items"]) == 4 * 3 + 3 + 3

    enter_key(page, live_service.base_url, live_service.api_key)
    page.goto(f"{live_service.base_url}/dashboard/searches/{first}")
    panel = page.locator('[data-panel="ground-truth"]')
    expect(panel.locator(".gt-status")).to_have_attribute("data-state", "ready")
    expect(panel.locator(".gt-status")).to_contain_text("ms per epoch")
    for name in DATASETS:
        chart = f'[data-panel="ground-truth"] [data-chart="ground-truth-{name}"]'
        expect(page.locator(f"{chart} .chart")).to_have_attribute("data-points", "4")
        expect(page.locator(f"{chart} .chart-title")).to_contain_text("Ground-truth test accuracy vs epoch")
        assert painted_pixels(page, f"{chart} canvas", DERIVED_RGB) > 50
        assert painted_pixels(page, f"{chart} canvas", OPTIMUM_RGB) > 20
    # The table shows the API's numbers for the best and final architectures.
    for kind, index in (("best", 4321), ("final", 77)):
        row = panel.locator(f'tr[data-kind="{kind}"][data-dataset="cifar100"]')
        served = next(r for r in body["items"] if r["kind"] == kind and r["dataset"] == "cifar100")
        assert served["arch_index"] == index
        expect(row).to_contain_text(f"{served['test_acc']:.2f} ± {served['test_acc_std']:.2f}")
        expect(row).to_contain_text(written.arch_strings()[index])
    shot(page, "ground-truth")

    page.goto(f"{live_service.base_url}/dashboard/compare?ids={first},{second}")
    overlay = '[data-panel="ground-truth"] [data-chart="ground-truth-ImageNet16-120"]'
    expect(page.locator(f"{overlay} .chart")).to_have_attribute("data-points", "4")  # the longer search
    expect(page.locator(f"{overlay} .u-legend")).to_contain_text("gt-second")
    shot(page, "ground-truth-compare")
