# The map page's libraries, from the npm lockfile (scripts/copy-vendor.mjs puts them in tiler/static/vendor).
FROM node:20-slim AS vendor
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts scripts
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
# OpenJPEG for glymur (tiler/jpeg2000.py); rasterio's wheel carries its own copy for GDAL.
RUN apt-get update && apt-get install -y --no-install-recommends libopenjp2-7 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tiler tiler
COPY renderers renderers
COPY styles styles
COPY --from=vendor /build/tiler/static/vendor tiler/static/vendor
RUN pip install --no-cache-dir .
ENV EO_TILER_HOST=0.0.0.0
EXPOSE 8000
# The supervisor inside replaces a stuck worker by itself; this check covers the container as a whole
# (no worker answering at all). Docker only marks it unhealthy: restarting it is the orchestrator's job
# (Kubernetes: a livenessProbe on /healthz). No curl in the slim image: Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('EO_TILER_PORT', '8000'), timeout=4)"]
# SIGTERM lets requests finish for EO_TILER_SHUTDOWN_TIMEOUT (30 s) plus 5 s before workers are
# killed: give `docker stop` longer than its default 10 s (docker run --stop-timeout 40).
STOPSIGNAL SIGTERM
# Mount the archive at /eodata: docker run -p 8000:8000 -v /path/to/eodata:/eodata:ro eo-tiler
CMD ["eo-tiler", "serve", "--data", "/eodata"]
