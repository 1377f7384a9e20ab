"""A Python client of the flatnas service: `from flatnas import Client` (or `AsyncClient`).

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

Every method is written once, in `Methods`, as steps (flatnas.steps): the HTTP requests and waits it
needs, and what it makes of their answers. `Client` runs them with httpx.Client;
`flatnas.AsyncClient` (flatnas.async_client) runs the same steps with httpx.AsyncClient, so each
method here is also its coroutine. To add a method, write it in `Methods` under its mark (`@call`,
`@listing` or `@stream`), getting each answer with `yield from` (`full = yield from
self.resolve(id)`, `body = yield from self._json("GET", path)`).

The client needs httpx, pydantic and PyYAML only: it never imports the engine (nas_core), so it
installs without torch (the `flatnas-client` distribution, client/pyproject.toml).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

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
from flatnas.paging import MAX_PAGE_SIZE, PAGE_SIZE, Listing, Paginator
from flatnas.steps import Run, Send, Sleep, Step, Steps, call, listing, stream
from flatnas.transport import Event, Feed, Resume, default_url, may_retry, retry_delay

FULL_ID_LENGTH = 36  # uuid4 text
PREFIX_SCAN_LIMIT = 1000  # listings without an id_prefix filter: newest items searched for a prefix
Which = Literal["best", "final"]
State = TypeVar("State", bound=ApiModel)
R = TypeVar("R")
Transport = TypeVar("Transport")


class Methods(Generic[Transport]):
    """Every method of `Client` and `AsyncClient`, once, as steps (flatnas.steps), and the settings
    both take (see Client). A client adds its httpx client (`_open`), how it performs a step and how
    it finishes a method of each mark (`_call`, `_listing`, `_stream`); the plain table, which the
    bodies see as `self`, gives their steps as they are."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        max_retry_wait: float = 60.0,
        reconnects: int = 5,
        transport: Transport | None = None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("FLATNAS_API_KEY")
        self.timeout, self.retries, self.max_retry_wait = timeout, retries, max_retry_wait
        self.reconnects = reconnects
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = self._open(headers, transport)
        # What the bodies run on: this client's attributes (one shared __dict__) in the plain table,
        # whose marked methods give their steps instead of running them.
        table: Methods[Transport] = object.__new__(Methods)
        table.__dict__ = self.__dict__
        self._table = table

    def _open(self, headers: dict[str, str], transport: Transport | None) -> Any:
        """The client's httpx client: httpx.Client or httpx.AsyncClient."""
        raise NotImplementedError

    def _call(self, steps: Any) -> Any:
        return steps

    _stream = _call

    def _listing(self, make: Callable[[], Any]) -> Any:
        return make()

    # --- plumbing -------------------------------------------------------------------------------

    @call
    def request(self, method: str, path: str, **kwargs: Any) -> Steps[httpx.Response]:
        """One HTTP request (429/503 retried as flatnas.transport.may_retry allows); an error status
        raises ApiError, an unreachable or silent service FlatnasError."""
        attempt = 0
        while True:
            try:
                resp = yield Send(method, path, kwargs)
            except httpx.TimeoutException:
                raise FlatnasError(
                    f"{self.url} did not answer {method} {path} within {self.timeout:g}s"
                ) from None
            except httpx.TransportError as err:
                raise FlatnasError(f"cannot reach {self.url}: {err}") from None
            if attempt < self.retries and may_retry(method, resp):
                delay = retry_delay(resp, attempt)
                if delay <= self.max_retry_wait:
                    yield Sleep(delay)
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

    def _json(self, method: str, path: str, **kwargs: Any) -> Steps[Any]:
        return (yield from self.request(method, path, **kwargs)).json()

    def _paginate(
        self,
        path: str,
        model: type[State],
        params: Mapping[str, Any],
        limit: int | None,
        page_size: int = PAGE_SIZE,
    ) -> Listing[State]:
        """What a `@listing` method returns: the listing, paged by the client as it is iterated."""
        return Listing(path, model, dict(params), limit, page_size)

    def _resolve(
        self, listing: str, id_or_prefix: str, what: str, *, server_filter: bool = True
    ) -> Steps[str]:
        """The one id in `listing` starting with `id_or_prefix`. Listings with an `id_prefix` filter
        ask the service; the others are scanned (the newest PREFIX_SCAN_LIMIT items)."""
        if len(id_or_prefix) >= FULL_ID_LENGTH:
            return id_or_prefix
        prefix = id_or_prefix.lower()
        if not prefix or any(c not in "0123456789abcdef-" for c in prefix):
            raise FlatnasError(f"{id_or_prefix!r} is not a {what} id or id prefix (hexadecimal)")
        if server_filter:
            found = self._paginate(listing, _Identified, {"id_prefix": prefix}, 2)
        else:
            found = self._paginate(listing, _Identified, {}, PREFIX_SCAN_LIMIT, page_size=MAX_PAGE_SIZE)
        walk, matches = found.walk(), list[str]()
        while len(matches) < 2 and (params := walk.next_params()) is not None:
            page = walk.take((yield from self._json("GET", listing, params=params)))
            matches += [item.id for item in page.items if item.id.startswith(prefix)]
        if not matches:
            raise FlatnasError(f"no {what} id starts with {id_or_prefix!r}")
        if len(matches) > 1:
            raise FlatnasError(
                f"{what} id prefix {id_or_prefix!r} is ambiguous: {', '.join(matches)}, ...; give more of it"
            )
        return matches[0]

    @call
    def resolve(self, id_or_prefix: str) -> Steps[str]:
        """The full id of the one search whose id starts with `id_or_prefix`."""
        return (yield from self._resolve("/searches", id_or_prefix, "search"))

    @call
    def resolve_evaluation(self, id_or_prefix: str) -> Steps[str]:
        return (yield from self._resolve("/evaluations", id_or_prefix, "evaluation", server_filter=False))

    @call
    def resolve_study(self, id_or_prefix: str) -> Steps[str]:
        return (yield from self._resolve("/studies", id_or_prefix, "study", server_filter=False))

    def _resume(self, feed: Feed) -> Resume:
        """How a `@stream` method's events are followed: it reconnects with the last event's id as
        Last-Event-ID (the service then sends only what came after), up to `reconnects` drops in a
        row, and ends after the status event of a finished job (flatnas.transport.Resume)."""
        return Resume(
            feed,
            url=self.url,
            timeout=self.timeout,
            reconnects=self.reconnects,
            max_retry_wait=self.max_retry_wait,
            error=self._error,
        )

    def _wait(
        self,
        read: Callable[[], Steps[State]],
        timeout: float | None,
        interval: float,
        on_progress: Callable[[State], None] | None,
        what: str,
    ) -> Steps[State]:
        """Poll until the job ends. `on_progress` is called with the first state read and then only
        when status or progress changed (not on every poll)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reported: dict[str, Any] | None = None
        while True:
            state = yield from read()
            key = progress_key(state)
            if on_progress is not None and key != reported:
                on_progress(state)
                reported = key
            status = getattr(state, "status", None)
            if status in TERMINAL:
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{what} is still {status} after {timeout:.0f}s")
            yield Sleep(interval)

    # --- searches -------------------------------------------------------------------------------

    @call
    def submit(self, spec: Any, *, idempotency_key: str | None = None) -> Steps[Search]:
        """Submit a spec: a dict, a path to a YAML or JSON file, or anything with `model_dump()`
        (the engine's SearchSpec). Returns the search."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Search.model_validate(
            (yield from self._json("POST", "/searches", json=spec_as_dict(spec), headers=headers))
        )

    @call
    def get(self, search_id: str) -> Steps[Search]:
        full = yield from self.resolve(search_id)
        return Search.model_validate((yield from self._json("GET", f"/searches/{full}")))

    @listing
    def list(self, *, limit: int | None = None, **filters: Any) -> Listing[Search]:
        """Searches, newest first. Filters: status, method, space, dataset, tag, q (name substring),
        mine, id_prefix."""
        return self._paginate("/searches", Search, filters, limit)

    @call
    def wait(
        self,
        search_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[Search], None] | None = None,
    ) -> Steps[Search]:
        """Poll until the search ends; returns its final state (check `status`). `on_progress` is
        called when the state changes. Raises TimeoutError after `timeout` seconds."""
        full = yield from self.resolve(search_id)
        return (
            yield from self._wait(lambda: self.get(full), timeout, interval, on_progress, f"search {full}")
        )

    @stream
    def events(self, search_id: str, *, history: bool = True) -> Steps[Feed]:
        """The search's server-sent events as they come; ends after the status event of a finished
        search. `history=False` skips the replay of what was written before connecting."""
        full = yield from self.resolve(search_id)
        return Feed(f"/searches/{full}/events", {"history": "true" if history else "false"})

    @call
    def cancel(self, search_id: str) -> Steps[Cancellation]:
        full = yield from self.resolve(search_id)
        return Cancellation.model_validate((yield from self._json("POST", f"/searches/{full}/cancel")))

    @call
    def retry(self, search_id: str) -> Steps[Search]:
        full = yield from self.resolve(search_id)
        return Search.model_validate((yield from self._json("POST", f"/searches/{full}/retry")))

    @call
    def genotype(self, search_id: str, which: Which = "best", *, epoch: int | None = None) -> Steps[Genotype]:
        """One genotype document (space, ops, genotype, arch_str or darts_repr, epoch, search_id)."""
        return Genotype.model_validate((yield from self._genotype_document(search_id, which, epoch)))

    def _genotype_document(self, search_id: str, which: Which, epoch: int | None) -> Steps[dict[str, Any]]:
        params: dict[str, Any] = {"epoch": epoch} if epoch is not None else {"which": which}
        full = yield from self.resolve(search_id)
        return (yield from self._json("GET", f"/searches/{full}/genotype", params=params))  # type: ignore[no-any-return]

    @call
    def download_genotype(
        self, search_id: str, path: str | os.PathLike[str], which: Which = "best", *, epoch: int | None = None
    ) -> Steps[Path]:
        """Write the genotype document to `path`, exactly as served (the form every reader accepts)."""
        out = Path(path)
        document = yield from self._genotype_document(search_id, which, epoch)
        out.write_text(json.dumps(document, indent=2) + "\n")
        return out

    @call
    def curves(self, search_id: str) -> Steps[Rows[CurveRow]]:
        """Per-epoch rows (epoch from 0, losses, accuracies, lr, seconds); `.to_pandas()` for a
        DataFrame."""
        full = yield from self.resolve(search_id)
        body = yield from self._json("GET", f"/searches/{full}/curves")
        return Rows(CurveRow.model_validate(row) for row in body["items"])

    @call
    def flatness(self, search_id: str, *, kind: str | None = None) -> Steps[Rows[FlatnessRow]]:
        params = {"kind": kind} if kind else {}
        full = yield from self.resolve(search_id)
        body = yield from self._json("GET", f"/searches/{full}/flatness", params=params)
        return Rows(FlatnessRow.model_validate(row) for row in body["items"])

    # --- landscape jobs -------------------------------------------------------------------------

    @call
    def submit_barrier(
        self, a: Mapping[str, Any], b: Mapping[str, Any], **options: Any
    ) -> Steps[LandscapeJob]:
        """A landscape job computing the barrier between two architecture references, e.g.
        {"search_id": S, "which": "best"} (options: paths, supernet)."""
        options = yield from self._supernet_resolved(options)
        body = {"a": (yield from self._reference(a)), "b": (yield from self._reference(b)), **options}
        return LandscapeJob.model_validate(
            (yield from self._json("POST", "/landscape-jobs/barrier", json=body))
        )

    @call
    def submit_barrier_matrix(self, search_ids: Sequence[str], **options: Any) -> Steps[LandscapeJob]:
        """A landscape job computing the pairwise barriers of searches of one space (options:
        which, paths, supernet)."""
        ids = yield from self._resolve_all(search_ids)
        body = {"search_ids": ids, **(yield from self._supernet_resolved(options))}
        return LandscapeJob.model_validate(
            (yield from self._json("POST", "/landscape-jobs/barrier-matrix", json=body))
        )

    @call
    def submit_neighbourhood(self, search_id: str, **options: Any) -> Steps[LandscapeJob]:
        """A landscape job computing the neighbourhood of a search's stored genotype (options:
        which, epoch, radius, samples)."""
        body = {"search_id": (yield from self.resolve(search_id)), **options}
        return LandscapeJob.model_validate(
            (yield from self._json("POST", "/landscape-jobs/neighbourhood", json=body))
        )

    @call
    def resolve_landscape_job(self, id_or_prefix: str) -> Steps[str]:
        """The full id of the one landscape job whose id starts with `id_or_prefix`."""
        return (yield from self._resolve("/landscape-jobs", id_or_prefix, "landscape job"))

    @call
    def get_landscape_job(self, job_id: str) -> Steps[LandscapeJob]:
        path = f"/landscape-jobs/{(yield from self.resolve_landscape_job(job_id))}"
        return LandscapeJob.model_validate((yield from self._json("GET", path)))

    @listing
    def list_landscape_jobs(
        self, *, limit: int | None = None, **filters: Any
    ) -> Steps[Listing[LandscapeJob]]:
        """Landscape jobs of every kind, newest first. Filters: kind (barrier | barrier_matrix |
        neighbourhood), search_id (jobs involving it in any role), search_ids (jobs between these
        searches), id_prefix."""
        params = dict(filters)
        if params.get("search_id"):
            params["search_id"] = yield from self.resolve(params["search_id"])
        if isinstance(params.get("search_ids"), list | tuple):
            params["search_ids"] = ",".join((yield from self._resolve_all(params["search_ids"])))
        return self._paginate("/landscape-jobs", LandscapeJob, params, limit)

    @call
    def wait_landscape_job(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        interval: float = 1.0,
        on_progress: Callable[[LandscapeJob], None] | None = None,
    ) -> Steps[LandscapeJob]:
        """Poll a landscape job until it ends; returns it (its `result` when it succeeded)."""
        full = yield from self.resolve_landscape_job(job_id)
        return (
            yield from self._wait(
                lambda: self.get_landscape_job(full), timeout, interval, on_progress, f"landscape job {full}"
            )
        )

    @call
    def cancel_landscape_job(self, job_id: str) -> Steps[Cancellation]:
        """A waiting job is cancelled at once, a running one stops before its next evaluation."""
        path = f"/landscape-jobs/{(yield from self.resolve_landscape_job(job_id))}/cancel"
        return Cancellation.model_validate((yield from self._json("POST", path)))

    @call
    def retry_landscape_job(self, job_id: str) -> Steps[LandscapeJob]:
        """Queue a failed or cancelled landscape job again (it is computed from the start)."""
        path = f"/landscape-jobs/{(yield from self.resolve_landscape_job(job_id))}/retry"
        return LandscapeJob.model_validate((yield from self._json("POST", path)))

    # Deprecated (goes in the next release): the older name of `list_landscape_jobs`.
    list_jobs = list_landscape_jobs

    @call
    def wait_job(self, job_id: str, *, search_id: str | None = None, **options: Any) -> Steps[LandscapeJob]:
        """Deprecated (goes in the next release): `wait_landscape_job`. `search_id` is not needed
        any more (every landscape job has one URL) and is ignored."""
        del search_id
        return (yield from self.wait_landscape_job(job_id, **options))

    def _resolve_all(self, search_ids: Sequence[str]) -> Steps[tuple[str, ...]]:
        ids: tuple[str, ...] = ()
        for search_id in search_ids:
            ids += ((yield from self.resolve(search_id)),)
        return ids

    def _supernet_resolved(self, options: dict[str, Any]) -> Steps[dict[str, Any]]:
        """`options` with its `supernet` (a search id or unique prefix) resolved to the full id."""
        if options.get("supernet"):
            return {**options, "supernet": (yield from self.resolve(options["supernet"]))}
        return options

    def _reference(self, ref: Mapping[str, Any]) -> Steps[dict[str, Any]]:
        out = dict(ref)
        if out.get("search_id"):
            out["search_id"] = yield from self.resolve(out["search_id"])
        return out

    # --- evaluations ----------------------------------------------------------------------------

    @call
    def submit_evaluation(
        self, genotype: Mapping[str, Any], *, idempotency_key: str | None = None, **options: Any
    ) -> Steps[Evaluation]:
        """Train a genotype from scratch: `genotype` is {"search_id": S, "which": "best"} or
        {"json": <genotype document>}; options: protocol, dataset, seed, name, priority, overrides."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"genotype": (yield from self._reference(genotype)), **options}
        return Evaluation.model_validate(
            (yield from self._json("POST", "/evaluations", json=body, headers=headers))
        )

    @call
    def get_evaluation(self, evaluation_id: str) -> Steps[Evaluation]:
        full = yield from self.resolve_evaluation(evaluation_id)
        return Evaluation.model_validate((yield from self._json("GET", f"/evaluations/{full}")))

    @listing
    def list_evaluations(self, *, limit: int | None = None, **filters: Any) -> Steps[Listing[Evaluation]]:
        """Evaluations, newest first (filters: status, protocol, dataset, search_id (an id or a
        unique prefix), mine)."""
        if filters.get("search_id"):
            filters["search_id"] = yield from self.resolve(filters["search_id"])
        return self._paginate("/evaluations", Evaluation, filters, limit)

    @call
    def wait_evaluation(
        self,
        evaluation_id: str,
        *,
        timeout: float | None = None,
        interval: float = 2.0,
        on_progress: Callable[[Evaluation], None] | None = None,
    ) -> Steps[Evaluation]:
        """Poll until the evaluation ends; returns it (`test_acc`, `params_m`, `flops_m` when it succeeded)."""
        full = yield from self.resolve_evaluation(evaluation_id)
        return (
            yield from self._wait(
                lambda: self.get_evaluation(full), timeout, interval, on_progress, f"evaluation {full}"
            )
        )

    @stream
    def evaluation_events(self, evaluation_id: str) -> Steps[Feed]:
        """The evaluation's progress, epoch and status events, resuming like `events()`."""
        full = yield from self.resolve_evaluation(evaluation_id)
        return Feed(f"/evaluations/{full}/events", {})

    @call
    def evaluation_curves(self, evaluation_id: str) -> Steps[Rows[EvaluationCurveRow]]:
        """Per-epoch rows (train/test loss and accuracy, lr, seconds), as `curves` returns them."""
        full = yield from self.resolve_evaluation(evaluation_id)
        body = yield from self._json("GET", f"/evaluations/{full}/curves")
        return Rows(EvaluationCurveRow.model_validate(row) for row in body["epochs"])

    @call
    def cancel_evaluation(self, evaluation_id: str) -> Steps[Cancellation]:
        full = yield from self.resolve_evaluation(evaluation_id)
        path = f"/evaluations/{full}/cancel"
        return Cancellation.model_validate((yield from self._json("POST", path)))

    @call
    def retry_evaluation(self, evaluation_id: str) -> Steps[Evaluation]:
        full = yield from self.resolve_evaluation(evaluation_id)
        path = f"/evaluations/{full}/retry"
        return Evaluation.model_validate((yield from self._json("POST", path)))

    # --- studies --------------------------------------------------------------------------------

    @call
    def submit_study(
        self, study: Mapping[str, Any] | str | os.PathLike[str], *, idempotency_key: str | None = None
    ) -> Steps[Study]:
        """Submit a study ({name, base, grid, evaluate?, tags?, priority?}), as a dict or a YAML/JSON file."""
        body = dict(study) if isinstance(study, Mapping) else read_spec_document(study)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Study.model_validate((yield from self._json("POST", "/studies", json=body, headers=headers)))

    @call
    def get_study(self, study_id: str) -> Steps[Study]:
        full = yield from self.resolve_study(study_id)
        return Study.model_validate((yield from self._json("GET", f"/studies/{full}")))

    @listing
    def list_studies(self, *, mine: bool = False, limit: int | None = None) -> Listing[Study]:
        """Studies, newest first."""
        return self._paginate("/studies", Study, {"mine": mine}, limit)

    @call
    def wait_study(
        self,
        study_id: str,
        *,
        timeout: float | None = None,
        interval: float = 5.0,
        on_progress: Callable[[Study], None] | None = None,
    ) -> Steps[Study]:
        """Poll until every search (and, with `evaluate`, every evaluation) of the study has ended."""
        full = yield from self.resolve_study(study_id)
        return (
            yield from self._wait(
                lambda: self.get_study(full), timeout, interval, on_progress, f"study {full}"
            )
        )

    @call
    def study_results(self, study_id: str) -> Steps[StudyResults]:
        """Per-cell statistics (`cells`), paired A2M on/off comparisons (`paired`) and each search's
        metrics (`children`)."""
        full = yield from self.resolve_study(study_id)
        return StudyResults.model_validate((yield from self._json("GET", f"/studies/{full}/results")))

    @call
    def study_table(self, study_id: str, table: Literal["cells", "paired"] = "cells") -> Steps[str]:
        """One of the results tables as CSV text."""
        params = {"format": "csv", "table": table}
        full = yield from self.resolve_study(study_id)
        return (yield from self.request("GET", f"/studies/{full}/results", params=params)).text

    @call
    def cancel_study(self, study_id: str) -> Steps[Study]:
        full = yield from self.resolve_study(study_id)
        return Study.model_validate((yield from self._json("POST", f"/studies/{full}/cancel")))

    @call
    def retry_study(self, study_id: str) -> Steps[Study]:
        full = yield from self.resolve_study(study_id)
        return Study.model_validate((yield from self._json("POST", f"/studies/{full}/retry")))

    # --- for people -----------------------------------------------------------------------------

    @staticmethod
    def describe(search: Search) -> str:
        """One line: id, status, epoch (from 0), step, what it is doing, share done, ETA, best accuracy."""
        return describe_search(search)


class Client(Methods[httpx.BaseTransport]):
    """A session with one flatnas service. Use it as a context manager, or call `close()`.

    `timeout`: seconds for each request (connect, read, write). `retries`: how many times a 429 or
    503 answer is sent again; `max_retry_wait`: the longest Retry-After honoured (a longer one is
    raised at once). `reconnects`: how many drops in a row an event stream survives. `transport`:
    httpx's, e.g. a MockTransport in tests."""

    _http: httpx.Client

    def _open(self, headers: dict[str, str], transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Sleep):
            return time.sleep(step.seconds)
        try:
            return self._http.request(step.method, step.path, **step.options)
        except httpx.TransportError as err:
            return err  # raised inside the steps, where `request` words it

    def _call(self, steps: Steps[R]) -> R:
        run = Run(steps)
        for step in run:
            run.answer(self._perform(step))
        return run.value

    def _listing(self, make: Callable[[], Steps[Listing[State]]]) -> Paginator[State]:
        found = self._call(make())  # ids resolved now, so a bad one is raised here
        fetch = lambda params: self._call(self._table._json("GET", found.path, params=params))  # noqa: E731
        return Paginator(fetch, found.model, found.params, limit=found.limit, page_size=found.page_size)

    def _stream(self, steps: Steps[Feed]) -> Iterator[Event]:
        return self._follow(self._resume(self._call(steps)))  # ids resolved now, as `_listing`

    def _follow(self, resume: Resume) -> Iterator[Event]:
        while True:
            error = None
            try:
                with self._http.stream("GET", resume.path, **resume.connect()) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        resume.refused(resp)
                    else:
                        for line in resp.iter_lines():
                            if (event := resume.event(line)) is not None:
                                yield event
                            if resume.ended:
                                return
            except httpx.TransportError as err:
                error = err
            time.sleep(resume.dropped(error))


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
