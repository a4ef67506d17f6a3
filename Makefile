# Two entry points (see README): `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
VENDOR := tiler/static/vendor
CHROMIUM ?= /usr/bin/chromium

.PHONY: install demo test test-quick lint chromium qgis postgis redis nginx openjpeg bench

install: openjpeg $(VENV)/.installed $(VENDOR)/.installed

# OpenJPEG, which glymur loads to decode small JPEG 2000 windows by area (tiler/jpeg2000.py).
openjpeg:
	@/sbin/ldconfig -p | grep -q 'libopenjp2\.so\.7' || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenjp2-7; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# The map page's libraries: pinned in package-lock.json, fetched by npm, served by the app (no CDN).
# npm ci runs scripts/copy-vendor.mjs.
$(VENDOR)/.installed: package.json package-lock.json scripts/copy-vendor.mjs
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18+ and npm (Debian: apt-get install npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's chromium (Playwright's own download needs the internet).
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# QGIS, the GIS most users work in, as a real WMS client in the tests: Debian's python3-qgis,
# run headless by Debian's own python3 (tests/qgis_client.py).
qgis:
	@/usr/bin/python3 -c "import qgis.core" 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-qgis qgis-providers; }

# PostGIS for the pgSTAC catalog tests, which start PostgreSQL 15 clusters of their own
# (tests/postgres.py); PostgreSQL 15 itself comes with the machine (Debian's postgresql-15).
postgis:
	@test -f /usr/share/postgresql/15/extension/postgis.control || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-15-postgis-3; }

# Redis, the shared image cache and quota store of several workers or replicas: the tests start their
# own servers of Debian's redis-server (tests/redis_server.py); the package's own service is not used.
redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }

# nginx runs deploy/nginx.conf, the compose example's proxy, in front of loopback replicas in the tests.
nginx:
	@test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx; }

demo: install
	$(VENV)/bin/eo-tiler demo

test: install chromium qgis postgis redis nginx lint
	$(VENV)/bin/pytest -q

# The inner loop: everything but the browser, QGIS and server-process tests (about a minute).
test-quick: install postgis
	$(VENV)/bin/pytest -q -m "not browser and not qgis and not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# eo-tiler against TiTiler on a full generated Sentinel-2 tile, then a Sentinel-1 GRD tile against a
# Sentinel-2 COG tile, then the Copernicus DEM hillshade case (see README, "Benchmark").
bench: install
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.sentinel1
	$(VENV)/bin/python -m bench.dem
