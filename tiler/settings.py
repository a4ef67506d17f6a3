"""Settings: one frozen object, built once from the command line or the environment."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "EO_TILER_"
REDIS_SCHEMES = ("redis", "rediss", "unix")
# A catalog given as one of these URLs is a pgSTAC database; anything else is a SQLite file.
DATABASE_SCHEMES = ("postgresql://", "postgres://")


def catalog_setting(text: str) -> Path | str:
    """The `catalog` setting from its text: a database URL stays a string (a Path would fold its `//`)."""
    return text if text.startswith(DATABASE_SCHEMES) else Path(text)


@dataclass(frozen=True)
class Settings:
    data_roots: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    cache_bytes: int = 256 * 1024 * 1024  # the in-process image cache; in front of Redis, keep it small
    # Redis for rendered images shared by all workers and replicas (redis://, rediss:// or unix://);
    # None: in-process only. May hold a password: never printed.
    cache_url: str | None = field(default=None, repr=False)
    cache_max_age: int = 3600
    open_datasets: int = 32  # band files kept open between requests, per worker
    max_preview_size: int = 2048
    max_image_size: int = 4096  # WMS WIDTH/HEIGHT
    wms_time_default: bool = True  # False: WMS clients must send TIME (no default advertised)
    max_expression_length: int = 512
    max_expression_depth: int = 24
    # The SQLite catalog file, or a postgresql:// URL of a pgSTAC database; None: a SQLite file
    # per set of roots in the user cache.
    catalog: Path | str | None = None
    db_pool_min: int = 1  # pgSTAC: connections kept open per worker
    db_pool_max: int = 10  # pgSTAC: connections at most per worker
    db_timeout: float = 5.0  # pgSTAC: seconds a query, or the wait for a connection, may take
    collection_files: tuple[Path, ...] = ()  # collection files beside the built-in ones (tiler.collections)
    layer_dirs: tuple[Path, ...] = ()  # folders of layer files beside the built-in styles/
    max_mosaic_products: int = 20  # products read at most for one mosaic tile or preview
    max_tile_size: int = 512
    max_query_length: int = 4096  # bytes of the raw query string
    render_timeout: float = 30.0  # seconds a tile or preview may take, queueing included
    render_threads: int = 8  # renders run in this bounded pool, apart from the other endpoints
    # Output pixels rendering at once, per worker: bounds the memory of renders in flight (about 40
    # bytes a pixel, so ~670 MB); one 4096 x 4096 GetMap, or 256 tiles of 256 px.
    render_pixels: int = 4096 * 4096
    shutdown_timeout: float = 30.0  # seconds in-flight requests get to finish on SIGTERM
    # Stuck workers and slow clients (README, "Stuck workers and slow clients").
    worker_timeout: float = 30.0  # seconds a worker's event loop may stall before the supervisor replaces it
    header_timeout: float = 10.0  # seconds a connection gets to send a request's line and headers
    keep_alive_timeout: float = 5.0  # seconds an idle connection stays open after a response
    limit_concurrency: int = 8192  # connections and requests per worker; beyond: 503
    backlog: int = 2048  # connections the kernel queues for accepting
    max_header_bytes: int = 16 * 1024  # a request's line and headers together; beyond: 400
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # empty: no keys needed; never printed
    api_quota_per_minute: int = 600  # requests per key and minute (per worker process unless in Redis)
    quota_url: str | None = field(default=None, repr=False)  # Redis for the quotas; None: cache_url's, if any
    redis_timeout: float = 0.25  # seconds one Redis call may take before the request goes on without Redis
    # GDAL options applied inside rasterio.Env for every read, never through os.environ.
    gdal: Mapping[str, str | int] = field(
        default_factory=lambda: {
            # No directory listing on open, but sidecar files are still looked for: some archives keep
            # a band's CRS and no-data value in its .aux.xml (EMPTY_DIR would skip those).
            "GDAL_DISABLE_READDIR_ON_OPEN": "TRUE",
            "GDAL_CACHEMAX": 256 * 1024 * 1024,  # rasterio passes it to GDALSetCacheMax64: bytes
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.jp2",
        }
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.cache_bytes < 0:
            raise ValueError("cache_bytes must not be negative")
        if self.open_datasets < 0:
            raise ValueError("open_datasets must not be negative")
        if self.max_tile_size < 256:
            raise ValueError("max_tile_size must be at least 256")
        for name in (
            "max_query_length",
            "render_threads",
            "render_pixels",
            "api_quota_per_minute",
            "max_mosaic_products",
            "limit_concurrency",
            "backlog",
            "max_header_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("render_timeout", "redis_timeout", "worker_timeout", "header_timeout", "keep_alive_timeout"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not 0 <= self.shutdown_timeout < math.inf:
            raise ValueError("shutdown_timeout must be a number of seconds")
        if self.worker_timeout <= 2:
            raise ValueError("worker_timeout must be over 2 s (workers send a heartbeat every second)")
        if not 0 <= self.db_pool_min <= self.db_pool_max or self.db_pool_max < 1:
            raise ValueError("db_pool_max must be at least 1 and at least db_pool_min (0 or more)")
        if not 0 < self.db_timeout < math.inf:
            raise ValueError("db_timeout must be a positive number of seconds")
        for name in ("cache_url", "quota_url"):
            url = getattr(self, name)
            if url is not None and url.partition("://")[0] not in REDIS_SCHEMES:
                raise ValueError(f"{name} must be a Redis URL ({', '.join(s + '://' for s in REDIS_SCHEMES)})")

    @property
    def catalog_url(self) -> str | None:
        """The pgSTAC database URL, when the catalog is one."""
        if isinstance(self.catalog, str) and self.catalog.startswith(DATABASE_SCHEMES):
            return self.catalog
        return None

    @property
    def quota_store_url(self) -> str | None:
        """Where API-key quotas are counted: None in memory, per process."""
        return self.quota_url or self.cache_url

    @property
    def catalog_path(self) -> Path:
        """Outside the data roots, which may be read-only: the user's cache, keyed by the roots."""
        if self.catalog is not None:
            return Path(self.catalog)
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        roots = sorted(os.path.realpath(r) for r in self.data_roots)
        key = hashlib.sha256(os.pathsep.join(roots).encode()).hexdigest()[:16]
        return cache / "eo-tiler" / f"catalog-{key}.sqlite"


TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def boolean(text: str) -> bool:
    """true/false, 1/0, yes/no, on/off in any case: the one rule for booleans, in settings and in
    requests alike (`tiler.params`). Anything else is a ValueError, never a guess."""
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not true or false")


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in text.split(os.pathsep) if p)


def _cast(environ: Mapping[str, str], name: str, cast: Callable[[str], object], default: object) -> object:
    key = ENV_PREFIX + name
    if key not in environ:
        return default
    try:
        return cast(environ[key])
    except ValueError as exc:
        raise ValueError(f"{key}={environ[key]!r} is not a valid {getattr(cast, '__name__', 'value')}") from exc


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from EO_TILER_* variables; keyword overrides (from the CLI) win."""
    environ = os.environ if environ is None else environ
    defaults = Settings()
    roots = environ.get(ENV_PREFIX + "DATA", "")
    values: dict[str, object] = {
        "data_roots": tuple(Path(p) for p in roots.split(os.pathsep) if p),
        "host": environ.get(ENV_PREFIX + "HOST", defaults.host),
        "port": _cast(environ, "PORT", int, defaults.port),
        "workers": _cast(environ, "WORKERS", int, defaults.workers),
        "cache_bytes": _cast(environ, "CACHE_BYTES", int, defaults.cache_bytes),
        "cache_max_age": _cast(environ, "CACHE_MAX_AGE", int, defaults.cache_max_age),
        "open_datasets": _cast(environ, "OPEN_DATASETS", int, defaults.open_datasets),
        "max_preview_size": _cast(environ, "MAX_PREVIEW_SIZE", int, defaults.max_preview_size),
        "max_image_size": _cast(environ, "MAX_IMAGE_SIZE", int, defaults.max_image_size),
        "wms_time_default": _cast(environ, "WMS_TIME_DEFAULT", boolean, defaults.wms_time_default),
        "collection_files": _paths(environ.get(ENV_PREFIX + "COLLECTIONS", "")),
        "layer_dirs": _paths(environ.get(ENV_PREFIX + "LAYERS", "")),
        "max_expression_length": _cast(environ, "MAX_EXPRESSION_LENGTH", int, defaults.max_expression_length),
        "max_expression_depth": _cast(environ, "MAX_EXPRESSION_DEPTH", int, defaults.max_expression_depth),
        "max_tile_size": _cast(environ, "MAX_TILE_SIZE", int, defaults.max_tile_size),
        "max_query_length": _cast(environ, "MAX_QUERY_LENGTH", int, defaults.max_query_length),
        "render_timeout": _cast(environ, "RENDER_TIMEOUT", float, defaults.render_timeout),
        "render_threads": _cast(environ, "RENDER_THREADS", int, defaults.render_threads),
        "render_pixels": _cast(environ, "RENDER_PIXELS", int, defaults.render_pixels),
        "shutdown_timeout": _cast(environ, "SHUTDOWN_TIMEOUT", float, defaults.shutdown_timeout),
        "worker_timeout": _cast(environ, "WORKER_TIMEOUT", float, defaults.worker_timeout),
        "header_timeout": _cast(environ, "HEADER_TIMEOUT", float, defaults.header_timeout),
        "keep_alive_timeout": _cast(environ, "KEEP_ALIVE_TIMEOUT", float, defaults.keep_alive_timeout),
        "limit_concurrency": _cast(environ, "LIMIT_CONCURRENCY", int, defaults.limit_concurrency),
        "backlog": _cast(environ, "BACKLOG", int, defaults.backlog),
        "max_header_bytes": _cast(environ, "MAX_HEADER_BYTES", int, defaults.max_header_bytes),
        "api_keys": tuple(k.strip() for k in environ.get(ENV_PREFIX + "API_KEYS", "").split(",") if k.strip()),
        "api_quota_per_minute": _cast(environ, "API_QUOTA_PER_MINUTE", int, defaults.api_quota_per_minute),
        "cache_url": environ.get(ENV_PREFIX + "CACHE_URL") or None,
        "quota_url": environ.get(ENV_PREFIX + "QUOTA_URL") or None,
        "redis_timeout": _cast(environ, "REDIS_TIMEOUT", float, defaults.redis_timeout),
    }
    if environ.get(ENV_PREFIX + "CATALOG"):
        values["catalog"] = catalog_setting(environ[ENV_PREFIX + "CATALOG"])
    for name, cast in (("db_pool_min", int), ("db_pool_max", int), ("db_timeout", float)):
        values[name] = _cast(environ, name.upper(), cast, getattr(defaults, name))
    values["max_mosaic_products"] = _cast(environ, "MAX_MOSAIC_PRODUCTS", int, defaults.max_mosaic_products)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
