"""The embedded catalog backend: one SQLite file with an R*Tree over footprint bounding boxes.

Only products below the catalog's roots are ever returned, whatever else the file holds. Safe to
share between threads (one connection per thread) and processes (WAL: the server keeps reading
while `eo-tiler index` writes). `update` walks the roots and reads only new and changed products.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tiler.catalog import ORDERS, BBox, SearchResult, property_text
from tiler.catalog.records import RECORD_FORMAT, footprint_bbox, product_from_json, product_to_json
from tiler.collections import Collections
from tiler.errors import NotFound
from tiler.products import Product, product_keys, reference_keys
from tiler.sources import PARSE_ERRORS, Candidate, find_candidates

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Indexing report


@dataclass
class IndexReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.failed)} unreadable"
        )


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _signature(candidate: Candidate) -> str:
    st = candidate.metadata.stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


# ---------------------------------------------------------------------------------------------
# SQLite backend

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    platform TEXT,
    tile TEXT,
    datetime REAL NOT NULL,        -- Unix seconds, UTC
    cloud_cover REAL,
    processing_baseline TEXT,
    root TEXT NOT NULL,
    source TEXT NOT NULL UNIQUE,   -- the metadata file (or folder) the row was read from
    signature TEXT NOT NULL,       -- its mtime and size when read
    data TEXT NOT NULL             -- the whole Product, as JSON
);
-- Covering the filter columns: candidates are filtered without reading their (large) rows.
CREATE INDEX IF NOT EXISTS products_time ON products (collection, datetime, cloud_cover, root);
CREATE INDEX IF NOT EXISTS products_any_time ON products (datetime, cloud_cover, collection, root);
CREATE TABLE IF NOT EXISTS product_keys (
    key TEXT PRIMARY KEY,
    product INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS product_keys_product ON product_keys (product);
-- The scalar product properties (Product.properties) searches filter on, as text (property_text).
CREATE TABLE IF NOT EXISTS product_properties (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    product INTEGER NOT NULL,
    PRIMARY KEY (name, value, product)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS product_properties_product ON product_properties (product);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS products_deleted AFTER DELETE ON products BEGIN
    DELETE FROM footprints WHERE id = old.rowid;
    DELETE FROM product_keys WHERE product = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS product_properties_deleted AFTER DELETE ON products BEGIN
    DELETE FROM product_properties WHERE product = old.rowid;
END;
"""
_RTREE = "CREATE VIRTUAL TABLE IF NOT EXISTS footprints USING rtree(id, west, east, south, north)"
# Without SQLite's R*Tree module: the same columns in a plain table, bounding boxes on B-trees.
_PLAIN_FOOTPRINTS = """
CREATE TABLE IF NOT EXISTS footprints (id INTEGER PRIMARY KEY, west REAL, east REAL, south REAL, north REAL);
CREATE INDEX IF NOT EXISTS footprints_west ON footprints (west);
CREATE INDEX IF NOT EXISTS footprints_south ON footprints (south);
"""
_BATCH = 500  # products per transaction while updating
_ORDER_SQL = {
    "mostRecent": "p.datetime DESC, p.id",
    "leastRecent": "p.datetime ASC, p.id",
    "leastCC": "p.cloud_cover IS NULL, p.cloud_cover ASC, p.datetime DESC, p.id",
}


class SqliteCatalog:
    """A catalog in one SQLite file; `collections` tell `update` what the products are."""

    def __init__(self, path: Path, roots: Iterable[Path], collections: Collections | None = None) -> None:
        self.path = Path(path)
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        self.collections = collections
        self._root_names = tuple(str(r) for r in self.roots)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            try:
                db.execute(_RTREE)
                self.spatial_index = "rtree"
            except sqlite3.OperationalError:
                log.warning("SQLite here lacks the R*Tree module: footprints are searched on B-tree indexes")
                db.executescript(_PLAIN_FOOTPRINTS)
                self.spatial_index = "btree"
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('version', '0')")
            self._forget_old_records(db)

    @staticmethod
    def _forget_old_records(db: sqlite3.Connection) -> None:
        """Records written by an older eo-tiler are dropped: the next update reads the products again."""
        row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        if row is not None and row[0] == RECORD_FORMAT:
            return
        if db.execute("SELECT 1 FROM products LIMIT 1").fetchone() is not None:
            log.info("the catalog's records are of an older form: they will be read again")
            db.execute("DELETE FROM products")
            db.execute("DELETE FROM meta WHERE name = 'updated'")
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'version'")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (RECORD_FORMAT,))

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            # WAL: the server keeps reading while `eo-tiler index` writes.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB instead of 2
            db.execute("PRAGMA mmap_size=268435456")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- reading -------------------------------------------------------------------------------

    def _roots_sql(self) -> str:
        return "p.root IN (" + ",".join("?" * len(self._root_names)) + ")"

    @property
    def version(self) -> str:
        row = self._connection().execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        return row[0]

    @property
    def indexed(self) -> bool:
        """True once an update has run to its end on this file (even one that found nothing)."""
        row = self._connection().execute("SELECT 1 FROM meta WHERE name = 'updated'").fetchone()
        return row is not None

    def __len__(self) -> int:
        sql = f"SELECT count(*) FROM products p WHERE {self._roots_sql()}"
        return self._connection().execute(sql, self._root_names).fetchone()[0]

    def __iter__(self) -> Iterator[Product]:
        sql = f"SELECT data FROM products p WHERE {self._roots_sql()} ORDER BY {_ORDER_SQL['mostRecent']}"
        return (product_from_json(text) for (text,) in self._connection().execute(sql, self._root_names))

    def resolve(self, reference: str) -> Product:
        keys = reference_keys(reference, self.roots)
        sql = (
            "SELECT p.data FROM product_keys k JOIN products p ON p.rowid = k.product "
            f"WHERE k.key = ? AND {self._roots_sql()}"
        )
        db = self._connection()
        for key in keys:
            row = db.execute(sql, (key, *self._root_names)).fetchone()
            if row is not None:
                return product_from_json(row[0])
        raise NotFound(f"unknown product '{reference[:200]}'")

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
        properties: Mapping[str, str] | None = None,
    ) -> SearchResult:
        if order not in _ORDER_SQL:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}")
        where = [self._roots_sql()]
        args: list[object] = list(self._root_names)
        source = "products p"
        if bbox is not None:
            west, south, east, north = bbox
            # Spatial index first (CROSS JOIN fixes the order): measured faster than the time
            # index for tile- to country-sized boxes, see bench/catalog_bench.py.
            source = "footprints f CROSS JOIN products p ON p.rowid = f.id"
            where.append("f.west <= ? AND f.east >= ? AND f.south <= ? AND f.north >= ?")
            args += [east, west, north, south]
        if start is not None:
            where.append("p.datetime >= ?")
            args.append(_epoch(start))
        if end is not None:
            where.append("p.datetime <= ?")
            args.append(_epoch(end))
        if max_cloud is not None:
            where.append("p.cloud_cover <= ?")
            args.append(max_cloud)
        if collection is not None:
            where.append("p.collection = ?")
            args.append(collection)
        for name, value in (properties or {}).items():
            where.append("p.rowid IN (SELECT product FROM product_properties WHERE name = ? AND value = ?)")
            args += [name, value]
        condition = " AND ".join(where)
        db = self._connection()
        total = db.execute(f"SELECT count(*) FROM {source} WHERE {condition}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT p.data FROM {source} WHERE {condition} ORDER BY {_ORDER_SQL[order]} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return SearchResult([product_from_json(text) for (text,) in rows], total)

    # -- writing -------------------------------------------------------------------------------

    def put(self, products: Iterable[Product]) -> None:
        """Insert or replace products without walking any disk (benchmarks, other feeders).
        Each is keyed by its folder and never seen as changed by `update`."""
        db = self._connection()
        with db:
            for product in products:
                self._insert(db, product, str(product.path), "")
            self._bump(db, changed=True)
            self._mark_complete(db)

    def _insert(self, db: sqlite3.Connection, product: Product, source_name: str, signature: str) -> None:
        db.execute("DELETE FROM products WHERE source = ?", (source_name,))
        cursor = db.execute(
            "INSERT INTO products (id, collection, platform, tile, datetime, cloud_cover, processing_baseline,"
            " root, source, signature, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                product.id, product.collection, product.platform, product.tile, _epoch(product.datetime),
                product.cloud_cover, product.processing_baseline, str(product.root), source_name, signature,
                product_to_json(product),
            ),
        )  # fmt: skip
        rowid = cursor.lastrowid
        west, south, east, north = footprint_bbox(product)
        db.execute("INSERT INTO footprints (id, west, east, south, north) VALUES (?, ?, ?, ?, ?)",
                   (rowid, west, east, south, north))  # fmt: skip
        db.executemany(
            "INSERT OR IGNORE INTO product_keys (key, product) VALUES (?, ?)",
            [(key, rowid) for key in product_keys(product)],
        )
        scalars = {name: property_text(value) for name, value in product.properties.items()}
        db.executemany(
            "INSERT INTO product_properties (name, value, product) VALUES (?, ?, ?)",
            [(name, text, rowid) for name, text in scalars.items() if text is not None],
        )

    @staticmethod
    def _bump(db: sqlite3.Connection, changed: bool) -> None:
        if changed:
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'version'")
            db.execute("PRAGMA optimize")  # refresh the planner's statistics where they drifted

    @staticmethod
    def _mark_complete(db: sqlite3.Connection) -> None:
        """Recorded only when an update ran to its end: an interrupted first build is redone."""
        db.execute("INSERT OR REPLACE INTO meta VALUES ('updated', ?)", (datetime.now(UTC).isoformat(),))

    def _read_one(
        self, db: sqlite3.Connection, candidate: Candidate, signature: str, known: dict[str, str], report: IndexReport
    ) -> int:
        """Parse one new or changed product into the open transaction; returns the rows changed."""
        source_name = str(candidate.metadata)
        try:
            product = candidate.parse()
        except PARSE_ERRORS as exc:
            report.failed.append((str(candidate.target), str(exc)))
            log.warning("skipping product at %s: %s", candidate.target, exc)
            if source_name in known:  # it was readable before: the old row is stale now
                db.execute("DELETE FROM products WHERE source = ?", (source_name,))
                report.removed += 1
                return 1
            return 0
        clash = db.execute(
            "SELECT source FROM products WHERE id = ? AND source != ?", (product.id, source_name)
        ).fetchone()
        if clash is not None:
            reason = f"duplicate of product {product.id} already indexed from {clash[0]}"
            report.failed.append((str(candidate.target), reason))
            log.warning("skipping product at %s: %s", candidate.target, reason)
            return 0
        self._insert(db, product, source_name, signature)
        if source_name in known:
            report.changed += 1
        else:
            report.added += 1
        return 1

    def update(
        self,
        roots: Sequence[Path] | None = None,
        progress: Callable[[Iterable[Candidate]], Iterable[Candidate]] = lambda items: items,
    ) -> IndexReport:
        """Bring the catalog up to date with `roots` (default: its own): parse new and changed
        products, drop removed ones. Unreadable products are reported and skipped."""
        roots = tuple(Path(os.path.realpath(r)) for r in (roots or self.roots))
        report = IndexReport()
        db = self._connection()
        marks = ",".join("?" * len(roots))
        known = {
            source: signature
            for source, signature in db.execute(
                f"SELECT source, signature FROM products WHERE root IN ({marks})", [str(r) for r in roots]
            )
        }
        todo: list[tuple[Candidate, str]] = []
        seen: set[str] = set()
        for root in roots:
            for candidate in find_candidates(root, self.collections):
                source_name = str(candidate.metadata)
                seen.add(source_name)
                try:
                    signature = _signature(candidate)
                except OSError as exc:
                    report.failed.append((str(candidate.target), str(exc)))
                    continue
                if known.get(source_name) == signature:
                    report.unchanged += 1
                else:
                    todo.append((candidate, signature))
        with db:
            for source_name in known.keys() - seen:
                db.execute("DELETE FROM products WHERE source = ?", (source_name,))
                report.removed += 1
            self._bump(db, changed=report.removed > 0)
        signatures = {str(c.metadata): s for c, s in todo}
        # Committed in batches: a long first run shows up while it goes, and an interruption
        # keeps what was read (the next update carries on from there).
        pending = 0
        for candidate in progress([c for c, _ in todo]):
            pending += self._read_one(db, candidate, signatures[str(candidate.metadata)], known, report)
            if pending >= _BATCH:
                self._bump(db, changed=True)
                db.commit()
                pending = 0
        self._bump(db, changed=pending > 0)
        self._mark_complete(db)
        db.commit()
        return report


def open_catalog(path: Path, roots: Sequence[Path], collections: Collections | None = None) -> SqliteCatalog:
    """The catalog at `path` for `roots`, built now when it has never been built."""
    catalog = SqliteCatalog(path, roots, collections)
    if not catalog.indexed:
        log.info("building the catalog %s for %s", path, ", ".join(map(str, roots)))
        report = catalog.update()
        log.info("catalog built: %s", report.summary())
    return catalog
