"""flatnas.Client and the CLI's HTTP commands against the live service (PostgreSQL, Redis, uvicorn
and a real Celery worker): submit from a YAML file, wait with a progress callback, follow events,
curves, genotypes, id prefixes, cancel and retry, a landscape job; typed answers throughout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from flatnas import ApiError, Client, CurveRow, FlatnasError, Genotype, LandscapeJob, Rows, Search
from flatnas.cli import main as flatnas
from nas_core.genotype import genotype_from_json
from nas_core.spec import SearchSpec
from store.db import Database
from store.models import Search as SearchRow
from tests.fixtures.live_service import LiveService
from tests.unit.tiny import tiny_body

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = tiny_body(
    name="client tiny",
    space="nb201",
    method="darts",
    dataset={"name": "digits", "subset": 96, "image_size": 8},
    flatness={
        "interval": 1,
        "power_iterations": 2,
        "val_batches": 1,
        "a2m_sharpness": False,
        "ranking_stability": False,
        "neighbourhood": False,
        "neighbour_samples": 2,
    },
)


@pytest.fixture
def client(live_service: LiveService) -> Any:
    with Client(live_service.base_url, live_service.api_key) as c:
        yield c


def test_submit_wait_events_curves_genotype(
    client: Client, live_service: LiveService, tmp_path: Path
) -> None:
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    search = client.submit(spec_file, idempotency_key="client-1")
    assert isinstance(search, Search) and search.status == "queued"
    assert client.submit(SearchSpec.model_validate(SPEC), idempotency_key="client-1").id == search.id

    seen: list[Search] = []
    final = client.wait(search.id[:8], interval=0.2, timeout=240, on_progress=seen.append)
    assert final.status == "succeeded", live_service.logs()
    assert seen[-1] is final and len(seen) >= 2
    # Called back only when something a person would see changed: no two neighbours alike.
    states = [(s.status, s.progress, s.eta_seconds, s.best_val_acc) for s in seen]
    assert all(a != b for a, b in zip(states, states[1:], strict=False))
    assert "succeeded" in Client.describe(final)

    events = list(client.events(search.id[:6]))
    kinds = [e.event for e in events]
    assert kinds.count("epoch") == 2 and kinds[-1] == "status" and events[-1].data["status"] == "succeeded"
    assert [e.data["epoch"] for e in events if e.event == "epoch"] == [0, 1]
    flatness = {e.data["kind"] for e in events if e.event == "flatness"}
    assert {"hessian_eigenvalue", "skip_count", "cell_shape"} <= flatness

    rows = client.curves(search.id)
    assert isinstance(rows, Rows) and all(isinstance(r, CurveRow) for r in rows)
    assert [r.epoch for r in rows] == [0, 1] and all(
        r.val_acc is not None and 0 <= r.val_acc <= 1 for r in rows
    )
    assert rows.to_dicts()[0]["epoch"] == 0
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(FlatnasError, match="pandas"):
            rows.to_pandas()
    else:
        assert list(rows.to_pandas()["epoch"]) == [0, 1]

    best = client.download_genotype(search.id, tmp_path / "best.json")
    doc = json.loads(best.read_text())
    assert doc["search_id"] == search.id and genotype_from_json(doc).space == "nb201"
    final_doc = client.genotype(search.id, "final")
    assert isinstance(final_doc, Genotype) and final_doc.epoch == 1 and final_doc.arch_str
    assert genotype_from_json(final_doc.document()).space == "nb201"
    assert client.flatness(search.id, kind="skip_count")[0].kind == "skip_count"

    job = client.submit_neighbourhood(search.id[:10], radius=[1], samples=2)
    assert isinstance(job, LandscapeJob) and job.kind == "neighbourhood"
    done = client.wait_landscape_job(job.id[:8], interval=0.2, timeout=240)
    assert done.status == "succeeded" and done.result is not None, live_service.logs()
    assert [j.id for j in client.list_landscape_jobs(search_id=search.id[:8])] == [job.id]

    listed = list(client.list(q="client tiny"))
    assert search.id in [s.id for s in listed]
    pages = list(client.list(limit=1).pages())  # the paginator stops at the limit
    assert len(pages) == 1 and len(pages[0].items) == 1


def test_cli_commands_use_prefixes(
    live_service: LiveService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLATNAS_URL", live_service.base_url)
    monkeypatch.setenv("FLATNAS_API_KEY", live_service.api_key)
    with Client() as client:  # the environment's URL and key
        long = client.submit({**SPEC, "name": "to cancel", "epochs": 200})
    prefix = long.id[:7]
    assert flatnas(["search", "cancel", prefix]) == 0
    assert long.id in capsys.readouterr().out
    with Client() as client:
        assert client.wait(prefix, interval=0.2, timeout=120).status == "cancelled"
    assert flatnas(["search", "retry", prefix]) == 0
    assert "resumes from its last checkpoint" in capsys.readouterr().out
    assert flatnas(["search", "cancel", long.id]) == 0
    # cancelled: not success
    assert flatnas(["search", "wait", prefix, "--interval", "0.2", "--timeout", "120"]) == 1
    capsys.readouterr()

    assert flatnas(["search", "status", "zz"]) == 1
    assert "not a search id or id prefix" in capsys.readouterr().err
    assert flatnas(["search", "status", "0000000"]) == 1
    assert "no search id starts with '0000000'" in capsys.readouterr().err
    assert flatnas(["search", "cancel", long.id]) == 1  # already cancelled: the problem, one line per field
    err = capsys.readouterr().err
    assert err.startswith("HTTP 409 Conflict:") and "Traceback" not in err
    # The deprecated flat verb still works for one release, and says what replaces it.
    assert flatnas(["status", prefix]) == 0
    out, err = capsys.readouterr()
    assert long.id in out and "`flatnas search status`" in err


def test_an_ambiguous_prefix_is_refused_naming_the_matches(live_service: LiveService) -> None:
    # Two searches whose ids share a prefix, written straight into the store.
    database = Database(live_service.database_url)
    spec = SearchSpec.model_validate(SPEC).model_dump(mode="json")
    ids = ["abcdef01-0000-4000-8000-000000000001", "abcdef02-0000-4000-8000-000000000002"]
    with database.session() as session:
        for search_id in ids:
            session.add(
                SearchRow(
                    id=search_id,
                    name="prefix twin",
                    spec=spec,
                    method="darts",
                    space="nb201",
                    dataset="digits",
                    tags=[],
                    priority=5,
                    status="cancelled",
                )
            )
    database.dispose()
    with Client(live_service.base_url, live_service.api_key) as client:
        with pytest.raises(FlatnasError, match="ambiguous") as refused:
            client.get("abcdef0")
        assert all(search_id in str(refused.value) for search_id in ids)
        assert client.get("abcdef02").id == ids[1]
        with pytest.raises(ApiError) as missing:
            client.get("abcdef02-0000-4000-8000-00000000000f")
        assert missing.value.status == 404


def test_cli_groups_for_evaluations_landscape_jobs_and_studies(
    live_service: LiveService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`flatnas eval ...`, `flatnas landscape ...` and `flatnas study list` on a finished search,
    every id given as a prefix."""
    monkeypatch.setenv("FLATNAS_URL", live_service.base_url)
    monkeypatch.setenv("FLATNAS_API_KEY", live_service.api_key)
    with Client() as client:
        search = client.submit({**SPEC, "name": "cli groups"})
        assert client.wait(search.id, interval=0.3, timeout=240).status == "succeeded", live_service.logs()
    prefix = search.id[:8]

    evaluate = ["eval", "submit", prefix, "--which", "best", "--protocol", "nb201", "--dataset", "digits"]
    evaluate += ["--set", "dataset.image_size=8", "--set", "dataset.augment=false"]
    evaluate += ["--set", "epochs=1", "--set", "C=4", "--set", "layers=1", "--set", "batch_size=32"]
    assert flatnas([*evaluate, "--wait"]) == 0, live_service.logs()
    out = capsys.readouterr().out
    evaluation_id = out.split()[2]  # "submitted evaluation <id> (...)"
    assert "succeeded" in out and "test acc" in out
    assert flatnas(["eval", "status", evaluation_id[:8]]) == 0
    assert "params_m" in capsys.readouterr().out
    assert flatnas(["eval", "list", "--search-id", search.id]) == 0
    assert evaluation_id in capsys.readouterr().out
    assert flatnas(["eval", "curves", evaluation_id[:8]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch,train_loss,train_acc,test_loss,test_acc") and len(lines) == 2

    hood = ["landscape", "neighbourhood", prefix, "--radius", "1", "--samples", "2", "--wait"]
    assert flatnas(hood) == 0, live_service.logs()
    out = capsys.readouterr().out
    assert "submitted landscape job" in out and "(neighbourhood, queued)" in out and "succeeded" in out
    job_id = out.split()[3]
    assert flatnas(["landscape", "status", job_id[:8]]) == 0
    assert f"{search.id} (target)" in capsys.readouterr().out
    assert flatnas(["landscape", "list", "--search", search.id]) == 0
    assert job_id in capsys.readouterr().out

    assert flatnas(["study", "list"]) == 0
    assert capsys.readouterr().out.startswith("ID")
    assert flatnas(["study", "status", "0000000"]) == 1
    assert capsys.readouterr().err == "no study id starts with '0000000'\n"
