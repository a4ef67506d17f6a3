"""The `eo-tiler` command: `index` and `serve` the products under data roots, or `demo` on generated data."""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
import sys
from pathlib import Path

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tiler.catalog.backends import catalog_label, configured_catalog, open_configured_catalog
from tiler.collections import load_collections
from tiler.errors import CatalogUnavailable
from tiler.http import multiprocess
from tiler.http.connections import HeaderTimeoutProtocol
from tiler.settings import ENV_PREFIX, catalog_setting, settings_from_env
from tiler.supervisor import LOG_FORMAT, Supervisor

DEFAULT_DEMO_DIR = Path("demo-data")


def _serve(args: argparse.Namespace, data_roots: list[Path]) -> None:
    missing = [str(p) for p in data_roots if not p.is_dir()]
    if missing:
        raise SystemExit(f"eo-tiler: data root not found: {', '.join(missing)}")
    settings = settings_from_env(
        data_roots=tuple(p.resolve() for p in data_roots) or None,
        host=args.host,
        port=args.port,
        workers=args.workers,
        catalog=_catalog_option(args),
        cache_url=args.cache,
    )
    if not settings.data_roots:
        raise SystemExit(f"eo-tiler: give --data DIR (or set {ENV_PREFIX}DATA)")
    # Build a missing catalog once here, not in each worker.
    catalog = open_configured_catalog(settings, load_collections(extra=settings.collection_files))
    try:
        print(f"eo-tiler: catalog {catalog_label(settings)}: {len(catalog)} products", flush=True)
    except CatalogUnavailable as exc:
        print(f"eo-tiler: catalog {catalog_label(settings)}: {exc}; serving 503 until it is back", flush=True)
    catalog.close()
    # Worker processes build their app from the environment, so hand the settings on through it.
    os.environ[ENV_PREFIX + "DATA"] = os.pathsep.join(map(str, settings.data_roots))
    os.environ[ENV_PREFIX + "CATALOG"] = settings.catalog_url or str(settings.catalog_path)
    if settings.cache_url:
        os.environ[ENV_PREFIX + "CACHE_URL"] = settings.cache_url
    multiprocess.prepare(settings.workers)
    print(f"eo-tiler: map page at http://{settings.host}:{settings.port}/", flush=True)
    config = uvicorn.Config(
        "tiler.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
        # tiler.access logs every request as JSON, with API keys redacted; uvicorn's own line would not.
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
        # Slow and idle clients: see README, "Stuck workers and slow clients".
        http=functools.partial(HeaderTimeoutProtocol, header_timeout=settings.header_timeout),  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
        limit_concurrency=settings.limit_concurrency,
        backlog=settings.backlog,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        ws="none",  # no WebSocket routes: an upgrade request is answered as plain HTTP
    )
    # Always supervised, even with one worker: a worker stuck in native code is replaced, never waited for.
    supervisor = Supervisor(
        config, settings.workers, settings.worker_timeout, settings.shutdown_timeout, worker_gone=_worker_gone
    )
    raise SystemExit(supervisor.run())


def _worker_gone(pid: int) -> None:
    """A killed worker never ran its shutdown: drop its live gauges from the sums of /metrics."""
    if multiprocess.enabled():
        mark_process_dead(pid)


def _index(args: argparse.Namespace) -> None:
    missing = [str(p) for p in args.dirs if not p.is_dir()]
    if missing:
        raise SystemExit(f"eo-tiler: data root not found: {', '.join(missing)}")
    settings = settings_from_env(data_roots=tuple(p.resolve() for p in args.dirs), catalog=_catalog_option(args))
    catalog = configured_catalog(settings, load_collections(extra=settings.collection_files))
    print(f"eo-tiler: updating the catalog {catalog_label(settings)}", file=sys.stderr, flush=True)
    try:
        # Unreadable products are logged as they come, above the bar rather than through it.
        with logging_redirect_tqdm():
            report = catalog.update(progress=lambda items: tqdm(items, desc="reading", unit="product", file=sys.stderr))
        print(f"eo-tiler: {report.summary()}; {len(catalog)} products in the catalog", flush=True)
    except CatalogUnavailable as exc:
        raise SystemExit(f"eo-tiler: catalog {catalog_label(settings)}: {exc}") from None
    finally:
        catalog.close()


def _catalog_option(args: argparse.Namespace) -> Path | str | None:
    value = getattr(args, "catalog", None)  # `demo` has no --catalog
    return catalog_setting(value) if value else None


def _demo(args: argparse.Namespace) -> None:
    from demo import generate_archive

    directory = args.dir.resolve()
    print(f"eo-tiler: demo archive in {directory} (generated once, then reused)", flush=True)
    products = generate_archive(directory, size=args.size, progress=lambda msg: print("  " + msg, flush=True))
    print(f"eo-tiler: {len(products)} demo products ready", flush=True)
    _serve(args, [directory])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="eo-tiler", description="Tile server for Copernicus satellite products.")
    commands = parser.add_subparsers(dest="command", required=True)

    def server_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default=None, help=f"address to listen on (env {ENV_PREFIX}HOST, default 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help=f"port (env {ENV_PREFIX}PORT, default 8000)")
        p.add_argument(
            "--workers", type=int, default=None, help=f"worker processes (env {ENV_PREFIX}WORKERS, default 1)"
        )
        p.add_argument(
            "--cache",
            default=None,
            metavar="URL",
            help=f"redis://host:port/db: share rendered images in Redis (env {ENV_PREFIX}CACHE_URL, default in-process only)",
        )

    catalog_help = (
        f"the catalog: a SQLite file, or postgresql://... for a pgSTAC database (env {ENV_PREFIX}CATALOG, "
        "default: a SQLite file in ~/.cache/eo-tiler)"
    )
    serve = commands.add_parser("serve", help="serve the products found under the data roots")
    serve.add_argument("--data", type=Path, action="append", default=[], metavar="DIR", help="a data root (repeatable)")
    serve.add_argument("--catalog", default=None, metavar="FILE|URL", help=catalog_help)
    server_options(serve)

    index = commands.add_parser("index", help="build or update the catalog of the products under data roots")
    index.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="data roots, as given to serve --data")
    index.add_argument("--catalog", default=None, metavar="FILE|URL", help=catalog_help)

    demo = commands.add_parser("demo", help="generate a synthetic demo archive once, then serve it")
    demo.add_argument(
        "--dir", type=Path, default=DEFAULT_DEMO_DIR, help="where the demo archive lives (default ./demo-data)"
    )
    demo.add_argument("--size", type=int, default=1200, help="10 m raster size in pixels (multiple of 6)")
    server_options(demo)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if args.command == "serve":
        _serve(args, args.data)
    elif args.command == "index":
        _index(args)
    else:
        _demo(args)


if __name__ == "__main__":
    main()
