"""A Python client of the flatnas service: `from flatnas import Client`.

    with Client() as fn:                      # FLATNAS_URL and FLATNAS_API_KEY from the environment
        search = fn.submit("examples/tiny-nb201-digits.yaml")
        fn.wait(search.id, on_progress=lambda s: print(fn.describe(s)))
        best = fn.genotype(search.id)         # a Genotype: .space, .arch_str, .document()
        curves = fn.curves(search.id)         # Rows[CurveRow]; curves.to_pandas() with pandas

Answers are typed (flatnas.models: Search, Evaluation, Study, LandscapeJob, ...; unknown fields
kept). Every listing is a `Paginator`. Every method that takes an id also takes a unique prefix of
it, as git does with commit ids. Errors from the service raise `ApiError` (its problem details);
429 and 503 answers are retried after their Retry-After (flatnas.transport); `events()` resumes
with Last-Event-ID when the connection drops.

The client needs httpx, pydantic and PyYAML only: it never imports the engine (nas_core), so it
installs without torch (the `flatnas-client` distribution, client/pyproject.toml).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from flatnas.documents import read_spec_document
from flatnas.errors import ApiError, FlatnasError
from flatnas.labels import describe_search
from flatnas.models import (
    TERMINAL,
    ApiModel,
    Cancellation,
    CurveRow,
    Evaluation,
    EvaluationCurveRow,
    FlatnessRow,
    Genotype,
    LandscapeJob,
    Rows,
    Search,
    Study,
    StudyResults,
    progress_key,
)
from flatnas.paging import MAX_PAGE_SIZE, PAGE_SIZE, Paginator
from flatnas.transport import RETRY_STATUSES, Event, default_url, may_retry, parse_event_stream, retry_delay

FULL_ID_LENGTH = 36  # uuid4 text
PREFIX_SCAN_LIMIT = 1000  # listings without an id_prefix filter: newest items searched for a prefix
STREAM_READ_TIMEOUT_S = 60.0  # the service sends a keep-alive every 15 s; silence this long = dropped
Which = Literal["best", "final"]
State = TypeVar("State", bound=ApiModel)


class Client:
    """A session with one flatnas service. Use it as a context manager, or call `close()`.

    `timeout`: seconds for each request (connect, read, write). `retries`: how many times a 429 or
    503 answer is sent again; `max_retry_wait`: the longest Retry-After honoured (a longer one is
    raised at once). `reconnects`: how many drops in a row an event stream survives."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        max_retry_wait: float = 60.0,
        reconnects: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("FLATNAS_API_KEY")
        self.timeout, self.retries, self.max_retry_wait = timeout, retries, max_retry_wait
        self.reconnects = reconnects
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
        """One HTTP request (429/503 retried as flatnas.transport.may_retry allows); an error status
        raises ApiError, an unreachable or silent service FlatnasError."""
        attempt = 0
        while True:
            try:
                resp = self._http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                raise FlatnasError(
                    f"{self.url} did not answer {method} {path} within {self.timeout:g}s"
                ) from None
            except httpx.TransportError as err:
                raise FlatnasError(f"cannot reach {self.url}: {err}") from None
            if attempt < self.retries and may_retry(method, resp):
                delay = retry_delay(resp, attempt)
                if delay <= self.max_retry_wait:
                    time.sleep(delay)
                    attempt += 1
                    continue
            if resp.status_code >= 400:
                raise self._error(resp)
            return resp

    def _error(self, resp: httpx.Response) -> ApiError:
        try:
            problem = resp.json()
        except ValueError:
            problem = {"title": resp.reason_phrase, "detail": resp.text[:500]}
        if not isinstance(problem, dict):
            problem = {"detail": problem}
        if resp.status_code == 401 and not self.api_key:
            problem = {**problem, "detail": f"{problem.get('detail', '')}; set FLATNAS_API_KEY"}
        return ApiError(resp.status_code, problem)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _paginate(
        self,
        path: str,
        model: type[State],
        params: Mapping[str, Any],
        limit: int | None,
        page_size: int = PAGE_SIZE,
    ) -> Paginator[State]:
        fetch = lambda p: self._json("GET", path, params=p)  # noqa: E731
        return Paginator(fetch, model, dict(params), limit=limit, page_size=page_size)

    def _resolve(self, listing: str, id_or_prefix: str, what: str, *, server_filter: bool = True) -> str:
        """The one id in `listing` starting with `id_or_prefix`. Listings with an `id_prefix` filter
        ask the service; the others are scanned (the newest PREFIX_SCAN_LIMIT items)."""
        if len(id_or_prefix) >= FULL_ID_LENGTH:
            return id_or_prefix
        prefix = id_or_prefix.lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            raise FlatnasError(f"{id_or_prefix!r} is not a {what} id or id prefix (hexadecimal)")
        if server_filter:
            matches = [item.id for item in self._paginate(listing, _Identified, {"id_prefix": prefix}, 2)]
        else:
            scan = self._paginate(listing, _Identified, {}, PREFIX_SCAN_LIMIT, page_size=MAX_PAGE_SIZE)
            matches = []
            for item in scan:
                if item.id.startswith(prefix):
                    matches.append(item.id)
                    if len(matches) > 1:
                        break
        if not matches:
            raise FlatnasError(f"no {what} id starts with {id_or_prefix!r}")
        if len(matches) > 1:
            raise FlatnasError(
                f"{what} id prefix {id_or_prefix!r} is ambiguous: {', '.join(matches)}, ...; give more of it"
            )
        return matches[0]

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the one search whose id starts with `id_or_prefix`."""
        return self._resolve("/searches", id_or_prefix, "search")

    def resolve_evaluation(self, id_or_prefix: str) -> str:
        return self._resolve("/evaluations", id_or_prefix, "evaluation", server_filter=False)

    def resolve_study(self, id_or_prefix: str) -> str:
        return self._resolve("/studies", id_or_prefix, "study", server_filter=False)

    def _follow(self, path: str, params: Mapping[str, Any]) -> Iterator[Event]:
        """A server-sent event stream that survives dropped connections: it reconnects with the last
        event's id as Last-Event-ID (the service then sends only what came after), up to
        `reconnects` drops in a row, and ends after the status event of a finished job."""
        last_id: str | None = None
        drops = 0
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT_S)
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            pause = min(2.0 * (drops + 1), 10.0)  # the service's `retry:` hint is 2 s
            try:
                with self._http.stream("GET", path, params=params, headers=headers, timeout=timeout) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        if resp.status_code not in RETRY_STATUSES:
                            raise self._error(resp)
                        pause = min(retry_delay(resp, drops), self.max_retry_wait)  # busy: as request() does
                    for event in parse_event_stream(resp.iter_lines()) if resp.status_code < 400 else ():
                        drops = 0
                        last_id = event.id or last_id
                        yield event
                        if event.event == "status" and event.data.get("status") in TERMINAL:
                            return
                # Closed without the end: a server stopping (another one takes over), or busy.
                problem = f"HTTP {resp.status_code}" if resp.status_code >= 400 else "the service closed it"
            except httpx.TransportError as err:
                problem = str(err) or type(err).__name__
            drops += 1
            if drops > self.reconnects:
                raise FlatnasError(
                    f"event stream from {self.url} broke off {drops} times in a row: {problem}"
                )
            time.sleep(pause)

    def _wait(
        self,
        read: Callable[[], State],
        timeout: float | None,
        interval: float,
        on_progress: Callable[[State], None] | None,
        what: str,
    ) -> State:
        """Poll until the job ends. `on_progress` is called with the first state read and then only
        when status or progress changed (not on every poll)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reported: dict[str, Any] | None = None
        while True:
            state = read()
            key = progress_key(state)
            if on_progress is not None and key != reported:
                on_progress(state)
                reported = key
            status = getattr(state, "status", None)
            if status in TERMINAL:
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{what} is still {status} after {timeout:.0f}s")
            time.sleep(interval)

    # --- searches -------------------------------------------------------------------------------

    def submit(self, spec: Any, *, idempotency_key: str | None = None) -> Search:
        """Submit a spec: a dict, a path to a YAML or JSON file, or anything with `model_dump()`
        (the engine's SearchSpec). Returns the search."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Search.model_validate(
            self._json("POST", "/searches", json=spec_as_dict(spec), headers=headers)
        )

    def get(self, search_id: str) -> Search:
        return Search.model_validate(self._json("GET", f"/searches/{self.resolve(search_id)}"))

    def list(self, *, limit: int | None = None, **filters: Any) -> Paginator[Search]:
        """Searches, newest first. Filters: status, method, space, dataset, tag, q (name substring),
        mine, id_prefix."""
        return self._paginate("/searches", Search, filters, limit)

    def wait(
        self,
        search_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[Search], None] | None = None,
    ) -> Search:
        """Poll until the search ends; returns its final state (check `status`). `on_progress` is
        called when the state changes. Raises TimeoutError after `timeout` seconds."""
        full = self.resolve(search_id)
        return self._wait(lambda: self.get(full), timeout, interval, on_progress, f"search {full}")

    def events(self, search_id: str, *, history: bool = True) -> Iterator[Event]:
        """The search's server-sent events as they come; ends after the status event of a finished
        search. `history=False` skips the replay of what was written before connecting."""
        full = self.resolve(search_id)
        return self._follow(f"/searches/{full}/events", {"history": "true" if history else "false"})

    def cancel(self, search_id: str) -> Cancellation:
        return Cancellation.model_validate(self._json("POST", f"/searches/{self.resolve(search_id)}/cancel"))

    def retry(self, search_id: str) -> Search:
        return Search.model_validate(self._json("POST", f"/searches/{self.resolve(search_id)}/retry"))

    def genotype(self, search_id: str, which: Which = "best", *, epoch: int | None = None) -> Genotype:
        """One genotype document (space, ops, genotype, arch_str or darts_repr, epoch, search_id)."""
        return Genotype.model_validate(self._genotype_document(search_id, which, epoch))

    def _genotype_document(self, search_id: str, which: Which, epoch: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"epoch": epoch} if epoch is not None else {"which": which}
        return self._json("GET", f"/searches/{self.resolve(search_id)}/genotype", params=params)  # type: ignore[no-any-return]

    def download_genotype(
        self, search_id: str, path: str | os.PathLike[str], which: Which = "best", *, epoch: int | None = None
    ) -> Path:
        """Write the genotype document to `path`, exactly as served (the form every reader accepts)."""
        out = Path(path)
        out.write_text(json.dumps(self._genotype_document(search_id, which, epoch), indent=2) + "\n")
        return out

    def curves(self, search_id: str) -> Rows[CurveRow]:
        """Per-epoch rows (epoch from 0, losses, accuracies, lr, seconds); `.to_pandas()` for a
        DataFrame."""
        body = self._json("GET", f"/searches/{self.resolve(search_id)}/curves")
        return Rows(CurveRow.model_validate(row) for row in body["items"])

    def flatness(self, search_id: str, *, kind: str | None = None) -> Rows[FlatnessRow]:
        params = {"kind": kind} if kind else {}
        body = self._json("GET", f"/searches/{self.resolve(search_id)}/flatness", params=params)
        return Rows(FlatnessRow.model_validate(row) for row in body["items"])

    # --- landscape jobs -------------------------------------------------------------------------

    def submit_barrier(self, a: Mapping[str, Any], b: Mapping[str, Any], **options: Any) -> LandscapeJob:
        """A landscape job computing the barrier between two architecture references, e.g.
        {"search_id": S, "which": "best"} (options: paths, supernet)."""
        body = {"a": self._reference(a), "b": self._reference(b), **options}
        return LandscapeJob.model_validate(self._json("POST", "/landscape-jobs/barrier", json=body))

    def submit_barrier_matrix(self, search_ids: Sequence[str], **options: Any) -> LandscapeJob:
        """A landscape job computing the pairwise barriers of searches of one space (options:
        which, paths, supernet)."""
        ids = [self.resolve(s) for s in search_ids]
        return LandscapeJob.model_validate(
            self._json("POST", "/landscape-jobs/barrier-matrix", json={"search_ids": ids, **options})
        )

    def submit_neighbourhood(self, search_id: str, **options: Any) -> LandscapeJob:
        """A landscape job computing the neighbourhood of a search's stored genotype (options:
        which, epoch, radius, samples)."""
        body = {"search_id": self.resolve(search_id), **options}
        return LandscapeJob.model_validate(self._json("POST", "/landscape-jobs/neighbourhood", json=body))

    def resolve_landscape_job(self, id_or_prefix: str) -> str:
        """The full id of the one landscape job whose id starts with `id_or_prefix`."""
        return self._resolve("/landscape-jobs", id_or_prefix, "landscape job")

    def get_landscape_job(self, job_id: str) -> LandscapeJob:
        path = f"/landscape-jobs/{self.resolve_landscape_job(job_id)}"
        return LandscapeJob.model_validate(self._json("GET", path))

    def list_landscape_jobs(self, *, limit: int | None = None, **filters: Any) -> Paginator[LandscapeJob]:
        """Landscape jobs of every kind, newest first. Filters: kind (barrier | barrier_matrix |
        neighbourhood), search_id (jobs involving it in any role), search_ids (jobs between these
        searches), id_prefix."""
        params = dict(filters)
        if params.get("search_id"):
            params["search_id"] = self.resolve(params["search_id"])
        if isinstance(params.get("search_ids"), list | tuple):
            params["search_ids"] = ",".join(self.resolve(s) for s in params["search_ids"])
        return self._paginate("/landscape-jobs", LandscapeJob, params, limit)

    def wait_landscape_job(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        interval: float = 1.0,
        on_progress: Callable[[LandscapeJob], None] | None = None,
    ) -> LandscapeJob:
        """Poll a landscape job until it ends; returns it (its `result` when it succeeded)."""
        full = self.resolve_landscape_job(job_id)
        return self._wait(
            lambda: self.get_landscape_job(full), timeout, interval, on_progress, f"landscape job {full}"
        )

    def cancel_landscape_job(self, job_id: str) -> Cancellation:
        """A waiting job is cancelled at once, a running one stops before its next evaluation."""
        path = f"/landscape-jobs/{self.resolve_landscape_job(job_id)}/cancel"
        return Cancellation.model_validate(self._json("POST", path))

    def retry_landscape_job(self, job_id: str) -> LandscapeJob:
        """Queue a failed or cancelled landscape job again (it is computed from the start)."""
        path = f"/landscape-jobs/{self.resolve_landscape_job(job_id)}/retry"
        return LandscapeJob.model_validate(self._json("POST", path))

    def list_jobs(self, *, limit: int | None = None, **filters: Any) -> Paginator[LandscapeJob]:
        """Deprecated (goes in the next release): `list_landscape_jobs`, which this now is; it
        lists every kind, as `list_landscape_jobs` does."""
        return self.list_landscape_jobs(limit=limit, **filters)

    def wait_job(self, job_id: str, *, search_id: str | None = None, **options: Any) -> LandscapeJob:
        """Deprecated (goes in the next release): `wait_landscape_job`. `search_id` is not needed
        any more (every landscape job has one URL) and is ignored."""
        del search_id
        return self.wait_landscape_job(job_id, **options)

    def _reference(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(ref)
        if out.get("search_id"):
            out["search_id"] = self.resolve(out["search_id"])
        return out

    # --- evaluations ----------------------------------------------------------------------------

    def submit_evaluation(
        self, genotype: Mapping[str, Any], *, idempotency_key: str | None = None, **options: Any
    ) -> Evaluation:
        """Train a genotype from scratch: `genotype` is {"search_id": S, "which": "best"} or
        {"json": <genotype document>}; options: protocol, dataset, seed, name, priority, overrides."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"genotype": self._reference(genotype), **options}
        return Evaluation.model_validate(self._json("POST", "/evaluations", json=body, headers=headers))

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return Evaluation.model_validate(
            self._json("GET", f"/evaluations/{self.resolve_evaluation(evaluation_id)}")
        )

    def list_evaluations(self, *, limit: int | None = None, **filters: Any) -> Paginator[Evaluation]:
        """Evaluations, newest first (filters: status, protocol, dataset, search_id, mine)."""
        return self._paginate("/evaluations", Evaluation, filters, limit)

    def wait_evaluation(
        self,
        evaluation_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[Evaluation], None] | None = None,
    ) -> Evaluation:
        """Poll until the evaluation ends; returns it (`test_acc`, `params_m`, `flops_m` when it succeeded)."""
        full = self.resolve_evaluation(evaluation_id)
        return self._wait(
            lambda: self.get_evaluation(full), timeout, interval, on_progress, f"evaluation {full}"
        )

    def evaluation_events(self, evaluation_id: str) -> Iterator[Event]:
        """The evaluation's progress, epoch and status events, resuming like `events()`."""
        return self._follow(f"/evaluations/{self.resolve_evaluation(evaluation_id)}/events", {})

    def evaluation_curves(self, evaluation_id: str) -> Rows[EvaluationCurveRow]:
        """Per-epoch rows (train/test loss and accuracy, lr, seconds), as `curves` returns them."""
        body = self._json("GET", f"/evaluations/{self.resolve_evaluation(evaluation_id)}/curves")
        return Rows(EvaluationCurveRow.model_validate(row) for row in body["epochs"])

    def cancel_evaluation(self, evaluation_id: str) -> Cancellation:
        path = f"/evaluations/{self.resolve_evaluation(evaluation_id)}/cancel"
        return Cancellation.model_validate(self._json("POST", path))

    def retry_evaluation(self, evaluation_id: str) -> Evaluation:
        path = f"/evaluations/{self.resolve_evaluation(evaluation_id)}/retry"
        return Evaluation.model_validate(self._json("POST", path))

    # --- studies --------------------------------------------------------------------------------

    def submit_study(
        self, study: Mapping[str, Any] | str | os.PathLike[str], *, idempotency_key: str | None = None
    ) -> Study:
        """Submit a study ({name, base, grid, evaluate?, tags?, priority?}), as a dict or a YAML/JSON file."""
        body = dict(study) if isinstance(study, Mapping) else read_spec_document(study)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Study.model_validate(self._json("POST", "/studies", json=body, headers=headers))

    def get_study(self, study_id: str) -> Study:
        return Study.model_validate(self._json("GET", f"/studies/{self.resolve_study(study_id)}"))

    def list_studies(self, *, mine: bool = False, limit: int | None = None) -> Paginator[Study]:
        """Studies, newest first."""
        return self._paginate("/studies", Study, {"mine": mine}, limit)

    def wait_study(
        self,
        study_id: str,
        *,
        timeout: float | None = None,
        interval: float = 5.0,
        on_progress: Callable[[Study], None] | None = None,
    ) -> Study:
        """Poll until every search (and, with `evaluate`, every evaluation) of the study has ended."""
        full = self.resolve_study(study_id)
        return self._wait(lambda: self.get_study(full), timeout, interval, on_progress, f"study {full}")

    def study_results(self, study_id: str) -> StudyResults:
        """Per-cell statistics (`cells`), paired A2M on/off comparisons (`paired`) and each search's
        metrics (`children`)."""
        return StudyResults.model_validate(
            self._json("GET", f"/studies/{self.resolve_study(study_id)}/results")
        )

    def study_table(self, study_id: str, table: Literal["cells", "paired"] = "cells") -> str:
        """One of the results tables as CSV text."""
        params = {"format": "csv", "table": table}
        return self.request("GET", f"/studies/{self.resolve_study(study_id)}/results", params=params).text

    def cancel_study(self, study_id: str) -> Study:
        return Study.model_validate(self._json("POST", f"/studies/{self.resolve_study(study_id)}/cancel"))

    def retry_study(self, study_id: str) -> Study:
        return Study.model_validate(self._json("POST", f"/studies/{self.resolve_study(study_id)}/retry"))

    # --- for people -----------------------------------------------------------------------------

    @staticmethod
    def describe(search: Search) -> str:
        """One line: id, status, epoch (from 0), step, what it is doing, share done, ETA, best accuracy."""
        return describe_search(search)


class _Identified(ApiModel):
    """Just the id: what prefix resolution reads from any listing."""

    id: str


def spec_as_dict(spec: Any) -> dict[str, Any]:
    """A spec given as a dict, a path to a YAML/JSON file, or a model with `model_dump()` (the
    engine's SearchSpec: duck-typed, so the client never imports the engine), as a JSON-ready dict."""
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str | os.PathLike):
        return read_spec_document(spec)
    dump = getattr(spec, "model_dump", None)
    if dump is not None:
        return dict(dump(mode="json"))
    raise TypeError(f"a spec is a dict, a file path or a SearchSpec, not {type(spec).__name__}")
