"""A Python client of the flatnas service: `from flatnas import Client`.

    with Client() as fn:                      # FLATNAS_URL and FLATNAS_API_KEY from the environment
        search = fn.submit("examples/tiny-nb201-digits.yaml")
        fn.wait(search["id"], on_progress=lambda s: print(fn.describe(s)))
        best = fn.genotype(search["id"])      # one genotype document, as the API serves it
        curves = fn.curves(search["id"])      # pandas DataFrame when pandas is installed

Searches and landscape jobs (barriers, barrier matrices, neighbourhoods) are plain dicts, exactly
the API's JSON. Every method that takes an id also takes a unique prefix of it, as git does with
commit ids. Errors from the service raise `ApiError`, which carries the problem details.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from nas_core.spec import SearchSpec

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
FULL_ID_LENGTH = 36  # uuid4 text
PAGE_SIZE = 100
Which = Literal["best", "final"]
Rows = list[dict[str, Any]]  # (an alias: inside Client, `list` names the listing method)


def default_url() -> str:
    """FLATNAS_URL, else where `flatnas up` serves by default (API_HOST, API_PORT)."""
    url = os.environ.get("FLATNAS_URL")
    if url:
        return url.rstrip("/")
    host = os.environ.get("API_HOST", "127.0.0.1")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{os.environ.get('API_PORT', '8000')}"


class FlatnasError(Exception):
    """Anything the client reports: the service unreachable, an id that resolves to nothing, ..."""


class ApiError(FlatnasError):
    """The service answered with an error; `problem` holds its RFC 9457 problem details."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status, self.problem = status, problem
        super().__init__(describe_problem(status, problem))

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])


def describe_problem(status: int, problem: Mapping[str, Any]) -> str:
    """The problem as lines for people: title, detail, then one line per named field."""
    lines = [f"HTTP {status} {problem.get('title', '')}: {problem.get('detail', '')}".rstrip(" :")]
    for error in problem.get("errors") or []:
        lines.append(field_error_line(error.get("field"), error.get("message"), error.get("allowed")))
    return "\n".join(lines)


def field_error_line(field: Any, message: Any, allowed: Sequence[Any] | None) -> str:
    """`  field: message (allowed: ...)`; the list only when the message does not already name
    every allowed value (pydantic's "Input should be 'a', 'b' or 'c'" does)."""
    text = str(message)
    listed = allowed and not all(f"'{value}'" in text for value in allowed)
    return f"  {field}: {text}" + (f" (allowed: {', '.join(map(str, allowed or ()))})" if listed else "")


@dataclass(frozen=True)
class Event:
    """One server-sent event: `event` is progress | epoch | genotype | flatness | status."""

    event: str
    data: dict[str, Any]
    id: str | None = None


class Client:
    """A session with one flatnas service. Use it as a context manager, or call `close()`."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("FLATNAS_API_KEY")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing -------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request; an error status raises ApiError, an unreachable service FlatnasError."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise FlatnasError(f"cannot reach {self.url}: {err}") from None
        if resp.status_code >= 400:
            try:
                problem = resp.json()
            except ValueError:
                problem = {"title": resp.reason_phrase, "detail": resp.text[:500]}
            if resp.status_code == 401 and not self.api_key:
                problem = {**problem, "detail": f"{problem.get('detail', '')}; set FLATNAS_API_KEY"}
            raise ApiError(resp.status_code, problem if isinstance(problem, dict) else {"detail": problem})
        return resp

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _resolve(self, listing: str, id_or_prefix: str, what: str) -> str:
        if len(id_or_prefix) >= FULL_ID_LENGTH:
            return id_or_prefix
        prefix = id_or_prefix.lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            raise FlatnasError(f"{id_or_prefix!r} is not a {what} id or id prefix (hexadecimal)")
        items = self._json("GET", listing, params={"id_prefix": prefix, "limit": 2})["items"]
        if not items:
            raise FlatnasError(f"no {what} id starts with {id_or_prefix!r}")
        if len(items) > 1:
            shown = ", ".join(item["id"] for item in items)
            raise FlatnasError(
                f"{what} id prefix {id_or_prefix!r} is ambiguous: {shown}, ...; give more of it"
            )
        return str(items[0]["id"])

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the one search whose id starts with `id_or_prefix`."""
        return self._resolve("/searches", id_or_prefix, "search")

    def resolve_job(self, id_or_prefix: str) -> str:
        """The full id of the one barrier job whose id starts with `id_or_prefix`."""
        return self._resolve("/barriers", id_or_prefix, "barrier job")

    # --- searches -------------------------------------------------------------------------------

    def submit(
        self,
        spec: Mapping[str, Any] | str | os.PathLike[str] | SearchSpec,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit a spec: a dict, a path to a YAML or JSON file, or a `SearchSpec`. Returns the search."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/searches", json=spec_as_dict(spec), headers=headers)  # type: ignore[no-any-return]

    def get(self, search_id: str) -> dict[str, Any]:
        return self._json("GET", f"/searches/{self.resolve(search_id)}")  # type: ignore[no-any-return]

    def list(self, *, limit: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Searches, newest first, fetched page by page as you iterate. Filters: status, method,
        space, dataset, tag, q (name substring), mine, id_prefix."""
        params = {k: v for k, v in filters.items() if v is not None}
        cursor: str | None = None
        seen = 0
        while True:
            page_size = PAGE_SIZE if limit is None else max(1, min(PAGE_SIZE, limit - seen))
            page = self._json("GET", "/searches", params={**params, "limit": page_size, "cursor": cursor})
            for item in page["items"]:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def wait(
        self,
        search_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the search ends; returns its final state (check `status`). `on_progress` gets
        every state read, so it can draw a bar. Raises TimeoutError after `timeout` seconds."""
        full = self.resolve(search_id)
        return _poll_until_done(lambda: self.get(full), timeout, interval, on_progress, f"search {full}")

    def events(self, search_id: str, *, history: bool = True) -> Iterator[Event]:
        """The search's server-sent events as they come; ends after the status event of a finished
        search. `history=False` skips the replay of what was written before connecting."""
        full = self.resolve(search_id)
        params = {"history": "true" if history else "false"}
        try:
            with self._http.stream("GET", f"/searches/{full}/events", params=params, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ApiError(resp.status_code, resp.json())
                yield from parse_event_stream(resp.iter_lines())
        except httpx.TransportError as err:
            raise FlatnasError(f"event stream from {self.url} broke off: {err}") from None

    def cancel(self, search_id: str) -> dict[str, Any]:
        return self._json("POST", f"/searches/{self.resolve(search_id)}/cancel")  # type: ignore[no-any-return]

    def retry(self, search_id: str) -> dict[str, Any]:
        return self._json("POST", f"/searches/{self.resolve(search_id)}/retry")  # type: ignore[no-any-return]

    def genotype(self, search_id: str, which: Which = "best", *, epoch: int | None = None) -> dict[str, Any]:
        """One genotype document (space, ops, genotype, arch_str or darts_repr, epoch, search_id)."""
        params: dict[str, Any] = {"epoch": epoch} if epoch is not None else {"which": which}
        return self._json("GET", f"/searches/{self.resolve(search_id)}/genotype", params=params)  # type: ignore[no-any-return]

    def download_genotype(
        self, search_id: str, path: str | os.PathLike[str], which: Which = "best", *, epoch: int | None = None
    ) -> Path:
        """Write the genotype document to `path` (the single-genotype form every reader accepts)."""
        out = Path(path)
        out.write_text(json.dumps(self.genotype(search_id, which, epoch=epoch), indent=2) + "\n")
        return out

    def curves(self, search_id: str, *, dataframe: bool | None = None) -> Any:
        """Per-epoch rows (epoch from 0, losses, accuracies, lr, seconds). A pandas DataFrame when
        pandas is installed (or `dataframe=True`), else a list of dicts (`dataframe=False` forces it)."""
        body = self._json("GET", f"/searches/{self.resolve(search_id)}/curves")
        rows: Rows = body["items"]
        return as_table(rows, dataframe)

    def flatness(self, search_id: str, *, kind: str | None = None) -> Rows:
        params = {"kind": kind} if kind else {}
        body = self._json("GET", f"/searches/{self.resolve(search_id)}/flatness", params=params)
        return [dict(item) for item in body["items"]]

    # --- landscape jobs -------------------------------------------------------------------------

    def submit_barrier(self, a: Mapping[str, Any], b: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """A barrier job between two architecture references, e.g. {"search_id": S, "which": "best"}."""
        body = {"a": dict(a), "b": dict(b), **options}
        return self._json("POST", "/barriers", json=body)  # type: ignore[no-any-return]

    def submit_barrier_matrix(self, search_ids: Sequence[str], **options: Any) -> dict[str, Any]:
        ids = [self.resolve(s) for s in search_ids]
        return self._json("POST", "/barriers/matrix", json={"search_ids": ids, **options})  # type: ignore[no-any-return]

    def submit_neighbourhood(self, search_id: str, **options: Any) -> dict[str, Any]:
        """A neighbourhood job on a stored genotype (options: which, epoch, radius, samples)."""
        path = f"/searches/{self.resolve(search_id)}/flatness/neighbourhood"
        return self._json("POST", path, json=options)  # type: ignore[no-any-return]

    def get_job(self, job_id: str, *, search_id: str | None = None) -> dict[str, Any]:
        """A barrier job, or with `search_id` that search's neighbourhood job."""
        if search_id is not None:
            path = f"/searches/{self.resolve(search_id)}/flatness/jobs/{self._neighbourhood_id(search_id, job_id)}"
            return self._json("GET", path)  # type: ignore[no-any-return]
        return self._json("GET", f"/barriers/{self.resolve_job(job_id)}")  # type: ignore[no-any-return]

    def list_jobs(self, *, search_id: str | None = None, **filters: Any) -> Rows:
        """Barrier jobs, newest first (filters: kind, search_ids, id_prefix, limit); with
        `search_id` alone, that search's neighbourhood jobs."""
        if search_id is not None and not filters:
            path = f"/searches/{self.resolve(search_id)}/flatness/jobs"
            return [dict(j) for j in self._json("GET", path, params={"limit": 200})["items"]]
        params = {k: v for k, v in {**filters, "search_id": search_id}.items() if v is not None}
        if isinstance(params.get("search_ids"), list | tuple):
            params["search_ids"] = ",".join(params["search_ids"])
        return [dict(j) for j in self._json("GET", "/barriers", params=params)["items"]]

    def wait_job(
        self,
        job_id: str,
        *,
        search_id: str | None = None,
        timeout: float | None = None,
        interval: float = 1.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a landscape job until it ends; returns it (its `result` when it succeeded)."""
        return _poll_until_done(
            lambda: self.get_job(job_id, search_id=search_id), timeout, interval, on_progress, f"job {job_id}"
        )

    def _neighbourhood_id(self, search_id: str, job_id: str) -> str:
        if len(job_id) >= FULL_ID_LENGTH:
            return job_id
        matches = [j["id"] for j in self.list_jobs(search_id=search_id) if j["id"].startswith(job_id.lower())]
        if len(matches) != 1:
            raise FlatnasError(
                f"neighbourhood job prefix {job_id!r} matches {len(matches)} jobs of search {search_id}"
                + (f": {', '.join(matches)}" if matches else "")
            )
        return str(matches[0])

    # --- evaluations ----------------------------------------------------------------------------

    def submit_evaluation(
        self, genotype: Mapping[str, Any], *, idempotency_key: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Train a genotype from scratch: `genotype` is {"search_id": S, "which": "best"} or
        {"json": <genotype document>}; options: protocol, dataset, seed, name, priority, overrides."""
        source = dict(genotype)
        if "search_id" in source:
            source["search_id"] = self.resolve(source["search_id"])
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"genotype": source, **options}
        return self._json("POST", "/evaluations", json=body, headers=headers)  # type: ignore[no-any-return]

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        return self._json("GET", f"/evaluations/{evaluation_id}")  # type: ignore[no-any-return]

    def list_evaluations(self, **filters: Any) -> Rows:
        """Evaluations, newest first (filters: status, protocol, dataset, search_id, mine, limit)."""
        params = {k: v for k, v in filters.items() if v is not None}
        return [dict(e) for e in self._json("GET", "/evaluations", params=params)["items"]]

    def wait_evaluation(
        self,
        evaluation_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the evaluation ends; returns it (`test_acc`, `params_m`, `flops_m` when it succeeded)."""
        return _poll_until_done(
            lambda: self.get_evaluation(evaluation_id),
            timeout,
            interval,
            on_progress,
            f"evaluation {evaluation_id}",
        )

    def evaluation_curves(self, evaluation_id: str, *, dataframe: bool | None = None) -> Any:
        """Per-epoch rows (train/test loss and accuracy, lr, seconds), as `curves` returns them."""
        rows: Rows = self._json("GET", f"/evaluations/{evaluation_id}/curves")["epochs"]
        return as_table(rows, dataframe)

    def cancel_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        return self._json("POST", f"/evaluations/{evaluation_id}/cancel")  # type: ignore[no-any-return]

    def retry_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        return self._json("POST", f"/evaluations/{evaluation_id}/retry")  # type: ignore[no-any-return]

    # --- studies --------------------------------------------------------------------------------

    def submit_study(
        self, study: Mapping[str, Any] | str | os.PathLike[str], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Submit a study ({name, base, grid, evaluate?, tags?, priority?}), as a dict or a YAML/JSON file."""
        if isinstance(study, Mapping):
            body = dict(study)
        else:
            from nas_core.spec_files import read_spec_document

            body = read_spec_document(study)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/studies", json=body, headers=headers)  # type: ignore[no-any-return]

    def get_study(self, study_id: str) -> dict[str, Any]:
        return self._json("GET", f"/studies/{study_id}")  # type: ignore[no-any-return]

    def list_studies(self, *, mine: bool = False) -> Iterator[dict[str, Any]]:
        """Studies, newest first, fetched page by page as you iterate."""
        cursor: str | None = None
        while True:
            page = self._json("GET", "/studies", params={"limit": PAGE_SIZE, "cursor": cursor, "mine": mine})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def wait_study(
        self,
        study_id: str,
        *,
        timeout: float | None = None,
        interval: float = 5.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until every search (and, with `evaluate`, every evaluation) of the study has ended."""
        return _poll_until_done(
            lambda: self.get_study(study_id), timeout, interval, on_progress, f"study {study_id}"
        )

    def study_results(self, study_id: str) -> dict[str, Any]:
        """Per-cell statistics (`cells`), paired A2M on/off comparisons (`paired`) and each search's
        metrics (`children`)."""
        return self._json("GET", f"/studies/{study_id}/results")  # type: ignore[no-any-return]

    def study_table(self, study_id: str, table: Literal["cells", "paired"] = "cells") -> str:
        """One of the results tables as CSV text."""
        params = {"format": "csv", "table": table}
        return self.request("GET", f"/studies/{study_id}/results", params=params).text

    def cancel_study(self, study_id: str) -> dict[str, Any]:
        return self._json("POST", f"/studies/{study_id}/cancel")  # type: ignore[no-any-return]

    def retry_study(self, study_id: str) -> dict[str, Any]:
        return self._json("POST", f"/studies/{study_id}/retry")  # type: ignore[no-any-return]

    # --- for people -----------------------------------------------------------------------------

    @staticmethod
    def describe(search: Mapping[str, Any]) -> str:
        """One line: id, status, epoch (from 0), step, what it is doing, share done, ETA, best accuracy."""
        return describe_search(search)


def _poll_until_done(
    read: Callable[[], dict[str, Any]],
    timeout: float | None,
    interval: float,
    on_progress: Callable[[dict[str, Any]], None] | None,
    what: str,
) -> dict[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = read()
        if on_progress is not None:
            on_progress(state)
        if state["status"] in TERMINAL:
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{what} is still {state['status']} after {timeout:.0f}s")
        time.sleep(interval)


def describe_search(s: Mapping[str, Any]) -> str:
    from nas_core.reporter import activity_label, epoch_label

    p = s.get("progress") or {}
    parts = [f"{s['id']}  {s['status']}{' (cancel requested)' if s.get('cancel_requested') else ''}"]
    if p.get("total_epochs") is not None and p.get("epoch") is not None:
        step = f" step {p['step']}/{p['steps_per_epoch']}" if p.get("steps_per_epoch") else ""
        parts.append(epoch_label(p["epoch"], p["total_epochs"]) + step)
    if s.get("status") == "running" and p.get("phase"):
        parts.append(activity_label(p["phase"], p.get("detail")))
    if p.get("fraction") is not None:
        parts.append(f"{100 * p['fraction']:.0f}%")
    if s.get("eta_seconds") is not None:
        parts.append(f"ETA {s['eta_seconds']:.0f}s")
    if s.get("best_val_acc") is not None:
        parts.append(f"best val acc {s['best_val_acc']:.4f}")
    return "  ".join(parts)


def spec_as_dict(spec: Any) -> dict[str, Any]:
    """A spec given as a dict, a `SearchSpec` or a path to a YAML/JSON file, as a JSON-ready dict."""
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str | os.PathLike):
        from nas_core.spec_files import read_spec_document

        return read_spec_document(spec)
    dump = getattr(spec, "model_dump", None)
    if dump is not None:
        return dict(dump(mode="json"))
    raise TypeError(f"a spec is a dict, a SearchSpec or a file path, not {type(spec).__name__}")


def as_table(rows: list[dict[str, Any]], dataframe: bool | None) -> Any:
    if dataframe is False:
        return rows
    try:
        import pandas
    except ImportError:
        if dataframe:
            raise FlatnasError("dataframe=True needs pandas (pip install pandas)") from None
        return rows
    return pandas.DataFrame(rows)


def parse_event_stream(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from the stream's lines (comments and `retry:` skipped)."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Event(event, json.loads("\n".join(data)), event_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    if data:
        yield Event(event, json.loads("\n".join(data)), event_id)
