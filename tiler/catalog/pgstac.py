"""The catalog in PostgreSQL with pgSTAC: `--catalog postgresql://...`.

Each product is a STAC item of its collection, loaded with pypgstac's `Loader`; the whole
`Product` rides along in the item's `private` column (pgSTAC never publishes it), as the JSON of
`product_to_json`, with the data root it was found under. Searches are pgSTAC's: `search_query`
turns the filters into SQL, `where_stats` counts and `search_rows` pages through the partitions;
two conditions are added to its WHERE clause, the data roots (the same database may hold other
roots, or items of other loaders) and the bounding-box overlap that every backend means by `bbox`.

Beside the `pgstac` schema, a small `eo_tiler` schema keeps what `eo-tiler index` needs to
update incrementally (the metadata file of each item and its signature), the keys each product is
known by (`product_keys`) and the version token of mosaic cache keys.

Reads go through a `psycopg_pool` pool whose connections carry a statement timeout; a database
that is down, unreachable or slower than that raises `CatalogUnavailable` (HTTP 503), and the pool
reconnects by itself once the database is back.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout
from pypgstac import __version__ as PGSTAC_VERSION
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate
from shapely.geometry import box, mapping, shape

from tiler.catalog import ORDERS, BBox, SearchResult
from tiler.catalog.records import RECORD_FORMAT, footprint_bbox, product_from_json, product_to_json
from tiler.catalog.sqlite import IndexReport
from tiler.collections import Collections, builtin_collections
from tiler.errors import CatalogUnavailable, NotFound
from tiler.products import Product, product_keys, reference_keys
from tiler.sources import PARSE_ERRORS, Candidate, find_candidates
from tiler.stac import collection_document, stac_item

log = logging.getLogger(__name__)

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS eo_tiler;
CREATE TABLE IF NOT EXISTS eo_tiler.sources (
    source text PRIMARY KEY,          -- the metadata file (or folder) the item was read from
    signature text NOT NULL,          -- its mtime and size when read
    root text NOT NULL,
    collection text NOT NULL,
    item_id text NOT NULL UNIQUE      -- one product per ID over all collections, as in SQLite
);
CREATE INDEX IF NOT EXISTS sources_root ON eo_tiler.sources (root);
CREATE TABLE IF NOT EXISTS eo_tiler.product_keys (
    key text PRIMARY KEY,             -- the first product to claim a key keeps it
    item_id text NOT NULL REFERENCES eo_tiler.sources (item_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS product_keys_item ON eo_tiler.product_keys (item_id);
CREATE TABLE IF NOT EXISTS eo_tiler.meta (name text PRIMARY KEY, value text NOT NULL);
INSERT INTO eo_tiler.meta VALUES ('version', '0') ON CONFLICT DO NOTHING;
"""
# Cloud cover as a number: pgSTAC reads an unknown property as text, which would sort 9 after 10.
_CLOUD_QUERYABLE = {
    "description": "Cloud cover of the product, percent",
    "type": "number",
    "minimum": 0,
    "maximum": 100,
}
_SORTBY = {
    "mostRecent": [{"field": "datetime", "direction": "desc"}, {"field": "id", "direction": "asc"}],
    "leastRecent": [{"field": "datetime", "direction": "asc"}, {"field": "id", "direction": "asc"}],
    # pgSTAC sorts ascending with NULLs last: products without cloud cover come after the others.
    "leastCC": [
        {"field": "eo:cloud_cover", "direction": "asc"},
        {"field": "datetime", "direction": "desc"},
        {"field": "id", "direction": "asc"},
    ],
}
# Exact counts (pgSTAC's context "on"): a page's total decides when a mosaic stops asking.
_COUNT_CONF = Jsonb({"context": "on"})
_PRIVATE = "eo-tiler"  # the key of our part of an item's private column
# pgSTAC's WHERE clause for the search, with the data roots and the bounding-box overlap added;
# its count (where_stats) and the page of products (search_rows) in one round trip.
_SEARCH_SQL = """
WITH q AS MATERIALIZED (
    SELECT concat_ws(' AND ', s._where,
        format('private->%%L->>''root'' = ANY (%%L::text[])', %(private)s::text, %(roots)s::text[]),
        CASE WHEN %(west)s::float8 IS NOT NULL THEN format(
            'geometry && st_makeenvelope(%%s, %%s, %%s, %%s, 4326)',
            %(west)s::float8, %(south)s::float8, %(east)s::float8, %(north)s::float8) END
    ) AS w, s.orderby
    FROM search_query(%(query)s) s
)
SELECT (SELECT (where_stats(q.w, true, %(conf)s)).total_count FROM q),
    array(SELECT r.private->%(private)s->>'product'
          FROM q, search_rows(q.w, q.orderby, NULL, %(rows)s) WITH ORDINALITY AS r
          ORDER BY r.ordinality OFFSET %(offset)s)
"""
_BATCH = 500  # products per transaction while updating
_PUT_CHUNK = 5000  # products per transaction in `put`
_ITER_PAGE = 1000  # products per query while iterating the whole catalog
_INDEX_LOCK = 0x656F_7469  # advisory lock: one `eo-tiler index` at a time per database


def migrate(url: str, collections: Collections | None = None) -> None:
    """Create pgSTAC's schema with pypgstac's migrations when the database has none (an older
    pgSTAC is refused: upgrading a shared database is for its operators), then eo-tiler's
    bookkeeping, the collections and the cloud-cover queryable, each when missing."""
    with psycopg.connect(url, autocommit=True) as conn:
        installed = _one(conn.execute("SELECT to_regclass('pgstac.migrations') IS NOT NULL"))[0]
        if not installed:
            log.info("creating the pgSTAC %s schema", PGSTAC_VERSION)
            db = PgstacDB(dsn=url)
            try:
                Migrate(db).run_migration()
            finally:
                pool = db.pool
                db.disconnect()  # hands its connection back to its pool...
                if pool is not None:
                    pool.close()  # ...which it leaves open
        version = _one(conn.execute("SELECT pgstac.get_version()"))[0]
        if version.split(".")[:2] != PGSTAC_VERSION.split(".")[:2]:
            raise CatalogUnavailable(
                f"the database has pgSTAC {version}, eo-tiler needs {PGSTAC_VERSION}: "
                "upgrade it with `pypgstac migrate`"
            )
        conn.execute(_BOOKKEEPING)
        conn.execute("SET search_path TO pgstac, public")
        for collection in (collections if collections is not None else builtin_collections()).values():
            conn.execute(
                "INSERT INTO collections (content) VALUES (%s) ON CONFLICT DO NOTHING",
                (Jsonb(collection_document(collection)),),
            )
        conn.execute(
            "SELECT upsert_queryable('eo:cloud_cover', %s, NULL, 'BTREE', NULL) "
            "WHERE NOT EXISTS (SELECT FROM queryables WHERE name = 'eo:cloud_cover')",
            (Jsonb(_CLOUD_QUERYABLE),),
        )


def stored_item(product: Product, collections: Collections) -> dict:
    """The STAC item pgSTAC stores for a product: the public item (links relative to the service)
    with a geometry PostGIS can index and the product itself in `private`."""
    item = stac_item(product, collections.get(product.collection), "")
    item["geometry"] = _indexed_geometry(product)
    item["private"] = {_PRIVATE: {"product": product_to_json(product), "root": str(product.root)}}
    return item


def _indexed_geometry(product: Product) -> dict:
    """The footprint when it is readable, else the box `footprint_bbox` falls back to: the
    bounding box PostGIS sees is then the one SQLite's R*Tree holds."""
    if product.footprint:
        try:
            shape(product.footprint)
            return product.footprint
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
    return mapping(box(*footprint_bbox(product)))


def _one(cursor: psycopg.Cursor) -> tuple[Any, ...]:
    """The row of a query that always gives one (aggregates, values)."""
    row = cursor.fetchone()
    assert row is not None, "the query gives one row"
    return row


def _sever(conn: psycopg.Connection) -> None:
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
            sock.shutdown(socket.SHUT_RDWR)  # the duplicate shares the connection's socket
    except (OSError, psycopg.OperationalError):
        pass  # closed meanwhile: nothing left to end


def _stamp(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


class PgstacCatalog:
    """The Catalog interface over a pgSTAC database; only products below `roots` are returned.
    Safe to share between threads (a pool of connections) and between processes and machines."""

    def __init__(
        self,
        url: str,
        roots: Iterable[Path],
        collections: Collections | None = None,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        self.collections = collections if collections is not None else builtin_collections()
        self._root_names = [str(r) for r in self.roots]
        self.timeout = timeout
        self._unreachable_until = 0.0  # time.monotonic()
        self._pool = ConnectionPool(
            url,
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            name="eo-tiler-catalog",
            timeout=timeout,  # the wait for a free (or new) connection
            # Short: after a failed reconnection the next request starts a new attempt at once,
            # instead of the pool waiting out a backoff grown long during an outage.
            reconnect_timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
            configure=self._configure,
            check=self._check,  # a connection the server dropped is replaced
        )
        self._pool.open(wait=False)  # a database down at start-up is a 503 until it is back

    def _configure(self, conn: psycopg.Connection) -> None:
        # readonly: pgSTAC's search functions then keep no statistics of their own (no writes).
        conn.execute(
            "SELECT set_config('search_path', 'pgstac, public', false),"
            " set_config('statement_timeout', %s, false), set_config('pgstac.readonly', 'true', false)",
            (f"{round(self.timeout * 1000)}ms",),
        )

    def _check(self, conn: psycopg.Connection) -> None:
        with self._deadline(conn):
            ConnectionPool.check_connection(conn)

    @contextmanager
    def _deadline(self, conn: psycopg.Connection) -> Iterator[None]:
        """The client's own deadline, twice the statement timeout: a server that stopped answering
        altogether (frozen, or a network that drops packets) cannot enforce its timeout, so the
        connection's socket is shut down, which ends the wait with an OperationalError."""
        timer = threading.Timer(2 * self.timeout, _sever, (conn,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def close(self) -> None:
        self._pool.close()

    @staticmethod
    def describe(url: str) -> str:
        """A database URL for messages, without its password."""
        info = conninfo_to_dict(url)
        return f"pgSTAC database {info.get('dbname', '')} on {info.get('host', 'localhost')}:{info.get('port', 5432)}"

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        # Once the database is found unreachable, requests are answered at once for a while
        # rather than each waiting `timeout` for a connection (and holding a thread meanwhile).
        if time.monotonic() < self._unreachable_until:
            raise CatalogUnavailable("the catalog database is unreachable")
        try:
            with self._pool.connection() as conn, self._deadline(conn):
                yield conn
        except psycopg.errors.QueryCanceled:
            log.warning("catalog database: a query took over %.1f s", self.timeout)
            raise CatalogUnavailable(f"the catalog database did not answer within {self.timeout:g} s") from None
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedFunction):
            raise CatalogUnavailable("the catalog database holds no eo-tiler catalog yet: run eo-tiler index") from None
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.warning("catalog database unreachable: %s", exc)
            self._unreachable_until = time.monotonic() + self.timeout
            raise CatalogUnavailable("the catalog database is unreachable") from None

    # -- reading -------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        with self._reading() as conn:
            return _one(conn.execute("SELECT value FROM eo_tiler.meta WHERE name = 'version'"))[0]

    @property
    def indexed(self) -> bool:
        """True once an update has run to its end for every one of the roots, with records of
        this eo-tiler's format."""
        names = [f"updated:{r}" for r in self._root_names]
        with self._reading() as conn:
            found, record_format = _one(
                conn.execute(
                    "SELECT count(*) FILTER (WHERE name = ANY(%s)), max(value) FILTER (WHERE name = 'format')"
                    " FROM eo_tiler.meta",
                    (names,),
                )
            )
        return found == len(names) and record_format == RECORD_FORMAT

    def __len__(self) -> int:
        with self._reading() as conn:
            sql = "SELECT count(*) FROM eo_tiler.sources WHERE root = ANY(%s)"
            return _one(conn.execute(sql, (self._root_names,)))[0]

    def __iter__(self) -> Iterator[Product]:
        # Keyset pages, newest first: no connection is held between pages.
        sql = (
            "SELECT datetime, id, private->%(private)s->>'product' FROM items"
            " WHERE collection = ANY(%(collections)s) AND private->%(private)s->>'root' = ANY(%(roots)s)"
            " AND (%(time)s::timestamptz IS NULL OR datetime < %(time)s OR (datetime = %(time)s AND id > %(id)s))"
            " ORDER BY datetime DESC, id LIMIT %(page)s"
        )
        args: dict[str, object] = {"private": _PRIVATE, "collections": list(self.collections)}
        args |= {"roots": self._root_names, "page": _ITER_PAGE, "time": None, "id": ""}  # no page read yet
        while True:
            with self._reading() as conn:
                rows = conn.execute(sql, args).fetchall()
            yield from (product_from_json(text) for _, _, text in rows)
            if len(rows) < _ITER_PAGE:
                return
            args |= {"time": rows[-1][0], "id": rows[-1][1]}

    def resolve(self, reference: str) -> Product:
        keys = list(reference_keys(reference, self.roots))
        with self._reading() as conn:
            row = conn.execute(
                "SELECT i.private->%s->>'product'"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS k(key, n)"
                " JOIN eo_tiler.product_keys pk ON pk.key = k.key"
                " JOIN eo_tiler.sources s ON s.item_id = pk.item_id AND s.root = ANY(%s)"
                " CROSS JOIN LATERAL item_by_id(s.item_id, s.collection) i"
                " WHERE i.id IS NOT NULL ORDER BY k.n LIMIT 1",
                (_PRIVATE, keys, self._root_names),
            ).fetchone()
        if row is None:
            raise NotFound(f"unknown product '{reference[:200]}'")
        return product_from_json(row[0])

    def search(
        self,
        bbox: BBox | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        max_cloud: float | None = None,
        collection: str | None = None,
        limit: int = 10,
        offset: int = 0,
        order: str = "mostRecent",
    ) -> SearchResult:
        if order not in _SORTBY:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}")
        query: dict[str, object] = {
            "collections": [collection] if collection else list(self.collections),
            "sortby": _SORTBY[order],
        }
        if start is not None or end is not None:
            query["datetime"] = f"{_stamp(start) if start else '..'}/{_stamp(end) if end else '..'}"
        if max_cloud is not None:
            query["filter-lang"] = "cql2-json"
            query["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud]}
        with self._reading() as conn:
            total, texts = _one(
                conn.execute(
                    _SEARCH_SQL,
                    {
                        "private": _PRIVATE,
                        "roots": self._root_names,
                        "query": Jsonb(query),
                        "conf": _COUNT_CONF,
                        "rows": offset + limit,
                        "offset": offset,
                        **dict(zip(("west", "south", "east", "north"), bbox or (None,) * 4)),
                    },
                )
            )
        return SearchResult([product_from_json(text) for text in texts], total)

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection]:
        """A connection of its own (no statement timeout: an index run may be long), with the schema
        in place and the index lock held, so that two `eo-tiler index` runs never interleave."""
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (_INDEX_LOCK,))  # before two runs could both migrate
                migrate(self.url, self.collections)
                conn.execute("SET search_path TO pgstac, public")
                self._forget_old_records(conn)
                yield conn
        except psycopg.OperationalError as exc:
            raise CatalogUnavailable(f"the catalog database is unreachable: {exc}") from None

    @staticmethod
    def _forget_old_records(conn: psycopg.Connection) -> None:
        """Products recorded by an older eo-tiler are dropped: the update reads them again."""
        row = conn.execute("SELECT value FROM eo_tiler.meta WHERE name = 'format'").fetchone()
        if row is not None and row[0] == RECORD_FORMAT:
            return
        with conn.transaction():
            conn.execute(
                "DELETE FROM items i USING eo_tiler.sources s WHERE i.collection = s.collection AND i.id = s.item_id"
            )
            conn.execute("DELETE FROM eo_tiler.sources")
            conn.execute("DELETE FROM eo_tiler.meta WHERE name LIKE 'updated:%'")
            conn.execute(
                "INSERT INTO eo_tiler.meta VALUES ('format', %s) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (RECORD_FORMAT,),
            )

    @staticmethod
    def _load(conn: psycopg.Connection, items: list[dict]) -> None:
        if not items:
            return
        db = PgstacDB(connection=conn)  # the loader runs inside our transaction (as savepoints)
        try:
            # delsert: the loader's upsert rewrites `content` but keeps the old `private`, which
            # holds the product; delsert replaces an existing item whole, in the same transaction.
            Loader(db).load_items(iter(items), insert_mode=Methods.delsert)
        finally:
            if db.pool is not None:  # PgstacDB makes an (unused) pool of its own
                db.pool.close()

    @staticmethod
    def _record(conn: psycopg.Connection, rows: list[tuple[Product, str, str]]) -> None:
        """The bookkeeping of freshly loaded products: (product, source, signature). COPY, as the
        loader does: row-by-row inserts took most of the time of a large first build."""
        with conn.cursor() as cur:
            with cur.copy("COPY eo_tiler.sources FROM STDIN") as copy:
                for product, source, signature in rows:
                    copy.write_row((source, signature, str(product.root), product.collection, product.id))
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS new_keys (n bigint, key text, item_id text) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY new_keys FROM STDIN") as copy:
                n = 0
                for product, _, _ in rows:
                    for key in product_keys(product):
                        n += 1
                        copy.write_row((n, key, product.id))
            # The first product to claim a key keeps it, in the database and within the batch.
            cur.execute(
                "INSERT INTO eo_tiler.product_keys SELECT DISTINCT ON (key) key, item_id FROM new_keys"
                " ORDER BY key, n ON CONFLICT DO NOTHING"
            )

    @staticmethod
    def _drop_sources(conn: psycopg.Connection, sources: list[str], reloaded: Sequence[Product] = ()) -> None:
        """Remove the bookkeeping of `sources` (keys go by cascade) and their items, except those
        `reloaded` under the same collection and ID, which the loader replaces."""
        if sources:
            conn.execute(
                "WITH gone AS (DELETE FROM eo_tiler.sources WHERE source = ANY(%s) RETURNING collection, item_id)"
                " DELETE FROM items i USING gone WHERE i.collection = gone.collection AND i.id = gone.item_id"
                " AND (gone.collection, gone.item_id) NOT IN (SELECT unnest(%s::text[]), unnest(%s::text[]))",
                (sources, [p.collection for p in reloaded], [p.id for p in reloaded]),
            )

    @staticmethod
    def _bump(conn: psycopg.Connection) -> None:
        conn.execute("UPDATE eo_tiler.meta SET value = (value::bigint + 1)::text WHERE name = 'version'")

    @staticmethod
    def _mark_complete(conn: psycopg.Connection, roots: Sequence[Path]) -> None:
        """Recorded only when an update ran to its end: an interrupted first build is redone."""
        conn.execute(
            "INSERT INTO eo_tiler.meta SELECT unnest(%s::text[]), %s ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            ([f"updated:{r}" for r in roots], datetime.now(UTC).isoformat()),
        )

    def put(self, products: Iterable[Product]) -> None:
        """Insert or replace products without walking any disk (benchmarks, other feeders).
        Each is keyed by its folder and never seen as changed by `update`."""
        products = iter(products)
        with self._writing() as conn:
            while chunk := list(itertools.islice(products, _PUT_CHUNK)):
                with conn.transaction():
                    self._drop_sources(conn, [str(p.path) for p in chunk], chunk)
                    self._load(conn, [stored_item(p, self.collections) for p in chunk])
                    self._record(conn, [(p, str(p.path), "") for p in chunk])
                    self._bump(conn)
            self._mark_complete(conn, self.roots)
            conn.execute("ANALYZE items, eo_tiler.sources, eo_tiler.product_keys")

    def update(
        self,
        roots: Sequence[Path] | None = None,
        progress: Callable[[Iterable[Candidate]], Iterable[Candidate]] = lambda items: items,
    ) -> IndexReport:
        """Bring the catalog up to date with `roots` (default: its own): load new and changed
        products (replaced whole), drop removed ones. Unreadable products are reported and skipped."""
        roots = tuple(Path(os.path.realpath(r)) for r in (roots or self.roots))
        report = IndexReport()
        with self._writing() as conn:
            known = {
                source: (signature, item_id)
                for source, signature, item_id in conn.execute(
                    "SELECT source, signature, item_id FROM eo_tiler.sources WHERE root = ANY(%s)",
                    ([str(r) for r in roots],),
                )
            }
            todo: list[tuple[Candidate, str]] = []
            seen: set[str] = set()
            for root in roots:
                for candidate in find_candidates(root, self.collections):
                    source = str(candidate.metadata)
                    seen.add(source)
                    try:
                        st = candidate.metadata.stat()
                    except OSError as exc:
                        report.failed.append((str(candidate.target), str(exc)))
                        continue
                    signature = f"{st.st_mtime_ns}:{st.st_size}"
                    if known.get(source, ("",))[0] == signature:
                        report.unchanged += 1
                    else:
                        todo.append((candidate, signature))
            removed = sorted(known.keys() - seen)
            if removed:
                with conn.transaction():
                    self._drop_sources(conn, removed)
                    self._bump(conn)
                report.removed += len(removed)
            changes = 0
            signatures = {str(c.metadata): s for c, s in todo}
            batch: list[tuple[Product, str, str]] = []
            stale: list[str] = []  # known sources of this batch: their old rows go first
            for candidate in progress([c for c, _ in todo]):
                source = str(candidate.metadata)
                try:
                    product = candidate.parse()
                except PARSE_ERRORS as exc:
                    report.failed.append((str(candidate.target), str(exc)))
                    log.warning("skipping product at %s: %s", candidate.target, exc)
                    if source in known:  # it was readable before: the old item is stale now
                        stale.append(source)
                        report.removed += 1
                    continue
                holder = self._holder(conn, product.id, batch)
                if holder is not None and holder != source:
                    reason = f"duplicate of product {product.id} already indexed from {holder}"
                    report.failed.append((str(candidate.target), reason))
                    log.warning("skipping product at %s: %s", candidate.target, reason)
                    continue
                if source in known:
                    stale.append(source)
                    report.changed += 1
                else:
                    report.added += 1
                batch.append((product, source, signatures[source]))
                if len(batch) + len(stale) >= _BATCH:
                    changes += self._flush(conn, batch, stale)
                    batch, stale = [], []
            changes += self._flush(conn, batch, stale)
            self._mark_complete(conn, roots)
            if changes or removed:
                conn.execute("ANALYZE items, eo_tiler.sources, eo_tiler.product_keys")
        return report

    @staticmethod
    def _holder(conn: psycopg.Connection, item_id: str, batch: list[tuple[Product, str, str]]) -> str | None:
        """The source already holding a product ID, in this batch or in the database."""
        for product, source, _ in batch:
            if product.id == item_id:
                return source
        row = conn.execute("SELECT source FROM eo_tiler.sources WHERE item_id = %s", (item_id,)).fetchone()
        return row[0] if row else None

    def _flush(self, conn: psycopg.Connection, batch: list[tuple[Product, str, str]], stale: list[str]) -> int:
        """Commit one batch: old rows of changed sources out, new items loaded, bookkeeping in."""
        if not batch and not stale:
            return 0
        with conn.transaction():
            self._drop_sources(conn, stale, [p for p, _, _ in batch])
            self._load(conn, [stored_item(p, self.collections) for p, _, _ in batch])
            self._record(conn, batch)
            self._bump(conn)
        return len(batch) + len(stale)
