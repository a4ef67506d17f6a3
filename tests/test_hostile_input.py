"""Property-based tests (hypothesis) over everything that parses untrusted text: expressions,
tile and preview parameters, product references, and the HTTP endpoints as a whole.

The properties: nothing but the documented errors escapes, no generated input reaches numexpr
with a name off the allow-list, no reference resolves outside the data roots, and no request
gets a 500 or a traceback."""

from __future__ import annotations

import ast
import json
import os
import shutil
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from renderers import ExpressionError, evaluate, parse_expression, parse_expressions
from tiler.catalog import MemoryCatalog
from tiler.collections import builtin_collections
from tiler.errors import BadRequest, NotFound, TooLarge, UnsafeReference
from tiler.params import image_format, preview_size, styling, tile_address, tile_matrix_set, tile_size
from tiler.products import check_reference, is_inside
from tiler.settings import Settings
from tiler.sources import stac

BANDS = ("B02", "B03", "B04", "B08", "SCL")
FUNCTIONS = {"where", "sqrt", "log", "log10", "exp", "abs", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
             "arctan2", "minimum", "maximum"}  # fmt: skip
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Pieces of expressions, harmless and hostile, for hypothesis to combine.
TOKENS = [
    *BANDS, "B99", "v", "1", "0", "2.5", "1e308", "9" * 20, "-", "+", "*", "/", "**", "%", "//", "@", "(", ")",
    ",", ";", " ", "<", ">=", "==", "and", "or", "not", "if", "else", "where(", "sqrt(", "clip(", "min(", "max(",
    "__import__", "('os')", ".system", ".__class__", ".__subclasses__()", "[0]", "'x'", "\x00", "lambda x: x",
    "eval(", "open(", "exec(", "getattr(", "__builtins__", "%2e%2e", "{", "}", ":", "=", ":=", "*a", "\n", "\\",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)
any_text = st.text(max_size=120)


def assert_only_allowed_names(compiled: str) -> None:
    """An independent check of what reaches numexpr: only bands, allowed functions and numbers."""
    for node in ast.walk(ast.parse(compiled, mode="eval")):
        assert not isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.Starred)), compiled
        if isinstance(node, ast.Name):
            assert node.id in BANDS or node.id in FUNCTIONS, compiled
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, (int, float, bool)), compiled


@FAST
@given(st.one_of(token_soup, any_text))
@example("__import__('os').system('touch /tmp/eo-tiler-pwned')")
@example("B04.__class__.__mro__[1].__subclasses__()")
@example("B04 ** 9 ** 9 ** 9 ** 9")
@example("(" * 5000 + "B04" + ")" * 5000)
@example("-" * 10000 + "B04")
@example("B04\x00 + B03")
@example("[x for x in ().__class__.__base__.__subclasses__()]")
def test_expressions_parse_or_refuse_and_evaluate_safely(text: str) -> None:
    arrays = {b: np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4) for b in BANDS}
    try:
        expressions = parse_expressions(text, BANDS, max_length=100_000, max_depth=24)
    except ExpressionError as exc:
        assert str(exc)
        return
    for expression in expressions:
        assert_only_allowed_names(expression.compiled)
        try:
            result = evaluate(expression, arrays)
        except ExpressionError:
            continue
        assert result.dtype == np.float32 and result.shape == (4, 4)
    assert not os.path.exists("/tmp/eo-tiler-pwned")


@FAST
@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=200))
def test_expression_limits_hold_for_any_size(length: int, depth: int) -> None:
    text = ("(" * depth + "B04" + ")" * depth + "+B03" * length)[: length + 2 * depth]
    try:
        parsed = parse_expression(text, BANDS, max_length=512, max_depth=24)
    except ExpressionError:
        return
    assert len(parsed.source) <= 512


@pytest.fixture(scope="module")
def demo_index(demo_app) -> MemoryCatalog:
    return demo_app.state.services.catalog


@FAST
@given(
    z=st.integers(min_value=-(10**30), max_value=10**30) | st.integers(min_value=-2, max_value=30),
    x=st.integers(min_value=-(10**30), max_value=10**30) | st.integers(min_value=-2, max_value=2**24),
    y=st.integers(min_value=-(10**30), max_value=10**30) | st.integers(min_value=-2, max_value=2**24),
    tms=st.none() | st.sampled_from(["WebMercatorQuad", "WorldCRS84Quad", "EuropeanETRS89_LAEAQuad"]) | any_text,
    tilesize=st.none() | st.sampled_from(["256", "512", "1024", "-1", "0x100", "1e3", "9" * 5000]) | any_text,
    fmt=st.sampled_from(["png", "PNG", "jpeg", "webp", "gif", "png\x00", "../png"]) | any_text,
)
def test_tile_parameters_parse_or_refuse(z, x, y, tms, tilesize, fmt) -> None:
    query = {k: v for k, v in {"tms": tms, "tilesize": tilesize}.items() if v is not None}
    try:
        image_format(fmt)
        address = tile_address(tile_matrix_set(query.get("tms")), z, x, y, tile_size(query, Settings()))
    except BadRequest:
        return
    matrix = address.tms.matrix(address.z)
    assert 0 <= address.x < matrix.matrixWidth and 0 <= address.y < matrix.matrixHeight
    assert address.tilesize in (256, 512)
    assert all(np.isfinite(address.bounds))


@FAST
@given(
    width=st.none() | st.integers(min_value=-(10**20), max_value=10**20).map(str) | any_text,
    layer=st.none() | st.sampled_from(["NDVI", "TRUE_COLOR", "SCL", "../NDVI", "ndvi"]) | any_text,
    expression=st.none() | token_soup,
    rescale=st.none() | st.sampled_from(["0,1", "1,0", "nan,1", "0,inf", "0,1,0,1,0,1", "-1e309,1"]) | any_text,
    colormap=st.none() | st.sampled_from(["viridis", "rdylgn", "../../etc/passwd", "VIRIDIS"]) | any_text,
)
def test_preview_and_styling_parameters_parse_or_refuse(
    demo_app, demo_index, width, layer, expression, rescale, colormap
) -> None:
    product = next(iter(demo_index))
    query = {
        k: v
        for k, v in dict(width=width, layer=layer, expression=expression, rescale=rescale, colormap=colormap).items()
        if v is not None
    }
    limits = Settings(max_preview_size=256)
    try:
        w, h = preview_size(query, product.bounds, limits)
        collection = demo_app.state.services.collections[product.collection]
        services = demo_app.state.services
        styling(query, product.bands.keys(), collection, product.id, services.layers, limits, services.evalscripts)
    except (BadRequest, NotFound, TooLarge):
        return
    assert 1 <= w <= 256 and 1 <= h <= 256


def encodings(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, quote(text, safe=""), quote(quote(text, safe=""), safe="")])


REFERENCE_PIECES = ["..", ".", "/", "%2e", "%2f", "%25", "eodata", "Sentinel-2", "MSI", "L2A", ".SAFE", "/vsicurl/",
                    "/vsizip/", "vsis3", "http://", "file:", "\x00", "\\", "etc", "passwd", "~", "*", " "]  # fmt: skip


@FAST
@given(
    reference=st.one_of(
        st.lists(st.sampled_from(REFERENCE_PIECES), max_size=12).map("".join).flatmap(encodings),
        any_text,
        st.sampled_from(
            [
                "../../etc/passwd",
                "%2e%2e/%2e%2e/etc/passwd",
                "%252e%252e%252fetc",
                "/etc/passwd",
                "/vsicurl/http://127.0.0.1/x.tif",
                "/vsizip//tmp/x.zip/B04.tif",
                "\x00",
                "..%2f..%2f",
            ]
        ),
    )
)
def test_references_resolve_inside_the_roots_or_are_refused(demo_index, reference: str) -> None:
    try:
        product = demo_index.resolve(reference)
    except (UnsafeReference, NotFound):
        return
    assert any(is_inside(product.path, root) for root in demo_index.roots)
    for band in product.bands.values():
        assert is_inside(band.path, product.root)


@FAST
@given(any_text)
def test_check_reference_output_has_no_traversal(reference: str) -> None:
    try:
        cleaned = check_reference(reference)
    except UnsafeReference:
        return
    assert ".." not in cleaned.split("/") and "\x00" not in cleaned and "/vsi" not in cleaned.lower()


def test_absolute_path_through_a_symlink_out_of_the_root_is_refused(demo_archive, tmp_path) -> None:
    root, products = demo_archive
    outside = tmp_path / "outside"
    outside.mkdir()
    link_root = tmp_path / "root"
    link_root.mkdir()
    os.symlink(root, link_root / "escape")  # a link inside this root to a product tree outside it
    index = MemoryCatalog([link_root])
    assert len(index) == 0  # links are not followed while indexing
    target = link_root / "escape" / products[0].path.relative_to(root)
    with pytest.raises(UnsafeReference):
        index.resolve(str(target))


STAC_HREFS = ["/vsicurl/http://127.0.0.1:1/B04.tif", "../../outside/B04.tif", "/etc/passwd", "s3://bucket/B04.tif",
              "/vsizip//tmp/x.zip/B04.tif", "file:///etc/B04.tif", "%2e%2e/B04.tif", "B04.tif\x00.jp2"]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(href=st.sampled_from(STAC_HREFS) | any_text)
def test_stac_hrefs_only_ever_name_files_beside_the_item(demo_archive, tmp_path_factory, href: str) -> None:
    _root, products = demo_archive
    cog = next(p for p in products if p.layout == "cog")
    item_path = next(cog.path.glob("*.json"))
    item = json.loads(item_path.read_text())
    item["assets"]["red"]["href"] = href
    work = tmp_path_factory.mktemp("stac")
    (work / "outside").mkdir()
    (work / "outside" / "B04.tif").write_bytes(b"not a raster")
    folder = work / "root" / "item"
    shutil.copytree(cog.path, folder)
    (folder / "B04.tif").unlink()  # so only a file outside the folder could answer for it
    (folder / item_path.name).write_text(json.dumps(item))
    product = stac.parse(folder / item_path.name, work / "root", builtin_collections())
    assert "B04" not in product.bands
    assert all(band.path.parent == folder.resolve() for band in product.bands.values())


# ---------------------------------------------------------------------------------------------
# The whole HTTP surface


PATHS = ["/tiles/{z}/{x}/{y}.{ext}", "/preview.{ext}", "/tilejson.json", "/products/{id}", "/products", "/layers"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(PATHS),
    z=st.integers(min_value=-3, max_value=40) | st.just(10**40),
    x=st.integers(min_value=-3, max_value=2**20),
    y=st.integers(min_value=-3, max_value=2**20),
    ext=st.sampled_from(["png", "jpg", "webp", "gif", "PNG"]),
    product=st.sampled_from(["<real>", "nope", "../..", "%2e%2e%2fetc", "/vsicurl/http://x/y", "/etc/passwd", ""])
    | any_text,
    extra=st.dictionaries(
        st.sampled_from(["layer", "expression", "rescale", "colormap", "width", "tilesize", "tms", "format"]),
        st.one_of(any_text, token_soup, st.sampled_from(["NDVI", "0,1", "viridis", "64", "512", "WorldCRS84Quad"])),
        max_size=5,
    ),
)
def test_no_request_gets_a_500_or_a_traceback(demo_client, demo_index, path, z, x, y, ext, product, extra) -> None:
    real = next(iter(demo_index)).id
    product = real if product == "<real>" else product
    url = path.format(z=z, x=x, y=y, ext=ext, id=quote(product, safe=""))
    response = demo_client.get(url, params={"product": product, **extra})
    assert response.status_code in (200, 304, 400, 404, 413, 414), (url, extra, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        body = response.text
        assert "Traceback" not in body and 'File "' not in body
        if response.status_code >= 400:
            assert set(response.json()) == {"detail"}
