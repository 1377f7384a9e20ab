"""Names `make lint`'s dead-code check (vulture, configured in pyproject.toml) must not report:
each is used, but by something vulture cannot see. Add a name here only with its reason; delete
code that nothing uses instead.
"""
# ruff: noqa

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# Fields read by pydantic / FastAPI when a response is serialised, and by clients.
datasets  # api/catalog.py Catalog
flatness_switches  # api/catalog.py Catalog (read by the dashboard's New-search form)
spec_defaults  # api/catalog.py Catalog (read by the dashboard's New-search form)
instance  # api/errors.py problem details (RFC 9457 member)
latest_test_acc  # api/evaluations.py
evaluation_status  # api/studies.py
hessian_eigenvalue  # nas_core/spec.py FlatnessConfig flag (read by name through the metric registry)

# Called by frameworks: anyio's thread limiter, prometheus collectors, SQLAlchemy type hooks and
# declarative settings, Celery signal handlers (connected by decorator in worker/app.py), the
# worker's lease callables.
_.total_tokens
_.collect
impl
cache_ok
_.process_bind_param
_.process_result_value
type_annotation_map
updated_at
_.updated_at
_apply_gpu_memory_share
_apply_thread_budget
_start_reaper
_hand_back_on_stop
_stop_reaper
_.__call__

# Imported by "module:name" strings in the registries (nas_core/spaces, nas_core/methods,
# nas_core/flatness/metrics.py), and the toy entries tests/toy_registry.py registers.
Darts
DartsSpace
hessian_eigenvalue_record
a2m_sharpness_record
skip_count_record
alpha_entropy_record
ranking_stability_epoch_record
ToySpace
ToyTempered
toy_alpha_norm

# pytest fixtures requested by name for their effect only.
toys
one_torch_thread

# The Python client's public API (README "Python client"); not every method has a test yet.
_.submit_barrier
_.submit_barrier_matrix
_.submit_evaluation
_.wait_evaluation
_.cancel_evaluation
_.retry_evaluation
_.cancel_study
_.retry_study


# Read when serialised: GET /datasets (nas_core/datasets.py Availability.to_dict).
_.available
# Frameworks' hooks implemented by tests: uvicorn's Server.should_exit (tests/api/conftest.py) and
# httpx's AsyncBaseTransport.handle_async_request (tests/unit/test_api_load_failures.py).
_.should_exit
_.handle_async_request
# Starlette's Request caches the body it read in `_body` (api/spec_body.py hands the parsed body on).
_._body
# A module's lazy attributes (PEP 562): flatnas/__init__.py loads the client on first use.
__getattr__
# The client's public API (flatnas/paging.py Paginator.to_list), for users' code.
_.to_list
# Read by inspect.signature (help(), editors): a client's method shows its body's arguments (flatnas/steps.py).
_.__signature__
