"""Settings: one frozen object, built once from the command line or the environment."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "EO_TILER_"


@dataclass(frozen=True)
class Settings:
    data_roots: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    cache_bytes: int = 256 * 1024 * 1024
    cache_max_age: int = 3600
    open_datasets: int = 32  # band files kept open between requests, per worker
    max_preview_size: int = 2048
    max_image_size: int = 4096  # WMS WIDTH/HEIGHT
    wms_time_default: bool = True  # False: WMS clients must send TIME (no default advertised)
    max_expression_length: int = 512
    max_expression_depth: int = 24
    catalog: Path | None = None  # the SQLite catalog file; None: one per set of roots in the user cache
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
    api_quota_per_minute: int = 600  # requests per key and minute, per worker process
    # GDAL options applied inside rasterio.Env for every read, never through os.environ.
    gdal: Mapping[str, str | int] = field(
        default_factory=lambda: {
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
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
        for name in ("render_timeout", "worker_timeout", "header_timeout", "keep_alive_timeout"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not 0 <= self.shutdown_timeout < math.inf:
            raise ValueError("shutdown_timeout must be a number of seconds")
        if self.worker_timeout <= 2:
            raise ValueError("worker_timeout must be over 2 s (workers send a heartbeat every second)")

    @property
    def catalog_path(self) -> Path:
        """Outside the data roots, which may be read-only: the user's cache, keyed by the roots."""
        if self.catalog is not None:
            return self.catalog
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        roots = sorted(os.path.realpath(r) for r in self.data_roots)
        key = hashlib.sha256(os.pathsep.join(roots).encode()).hexdigest()[:16]
        return cache / "eo-tiler" / f"catalog-{key}.sqlite"


def _cast(environ: Mapping[str, str], name: str, cast: type, default: object) -> object:
    key = ENV_PREFIX + name
    if key not in environ:
        return default
    try:
        return cast(environ[key])
    except ValueError as exc:
        raise ValueError(f"{key}={environ[key]!r} is not a valid {cast.__name__}") from exc


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
        "wms_time_default": environ.get(ENV_PREFIX + "WMS_TIME_DEFAULT", "true").lower() not in ("false", "0", "no"),
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
    }
    if environ.get(ENV_PREFIX + "CATALOG"):
        values["catalog"] = Path(environ[ENV_PREFIX + "CATALOG"])
    values["max_mosaic_products"] = _cast(environ, "MAX_MOSAIC_PRODUCTS", int, defaults.max_mosaic_products)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
