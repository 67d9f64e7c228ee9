# Multi-stage: a slim API image and a worker image with the ML extra.
# Same settings as the Makefile and README: TUNECAST_DATA_DIR, TUNECAST_DATABASE_URL, TUNECAST_BROKER_URL.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TUNECAST_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY predictors ./predictors
COPY scaling ./scaling
COPY storage ./storage
COPY workers ./workers
RUN mkdir -p /data

FROM base AS api
RUN pip install .
EXPOSE 8000
CMD ["tunecast", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]

FROM base AS worker
# CUDA wheels come with torch from PyPI on GPU hosts; pin as the Makefile does.
RUN pip install "torch==2.13.0" && pip install ".[worker]"
CMD ["tunecast", "worker", "--queues", "gpu,cpu"]
