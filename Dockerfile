# One image for the api, the worker and the one-shot migrate service of docker-compose.yml.
# PyPI's Linux torch wheel bundles the CUDA runtime, so the same image runs on a GPU node (the
# host needs only the NVIDIA driver and container toolkit) and falls back to CPU elsewhere.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/var/lib/flatnas

WORKDIR /app

# Dependencies first, so editing the code does not reinstall torch.
COPY pyproject.toml README.md ./
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
RUN pip install -r /tmp/requirements.txt

# Every package pyproject's [tool.setuptools.packages.find] installs (tests/unit/test_dockerfile.py).
COPY nas_core ./nas_core
COPY store ./store
COPY api ./api
COPY worker ./worker
COPY migrations ./migrations
COPY flatnas ./flatnas
COPY alembic.ini ./
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 flatnas \
    && mkdir -p "$DATA_DIR" \
    && chown flatnas "$DATA_DIR"

USER flatnas
EXPOSE 8000
CMD ["uvicorn", "api.app:app", "--host", "0.0.0.0", "--port", "8000"]
