"""Settings from EO_TILER_* variables: one rule for booleans, and an invalid value is a start-up error
that names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiler.settings import settings_from_env


@pytest.mark.parametrize(
    "text, value", [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True), ("false", False),
                    ("0", False), ("no", False), ("OFF", False), (" false ", False)],
)  # fmt: skip
def test_booleans_take_the_one_rule(text, value) -> None:
    assert settings_from_env({"EO_TILER_WMS_TIME_DEFAULT": text}).wms_time_default is value


@pytest.mark.parametrize(
    "name, text",
    [
        ("WMS_TIME_DEFAULT", "flase"),
        ("WMS_TIME_DEFAULT", ""),
        ("WMS_TIME_DEFAULT", "2"),
        ("CACHE_BYTES", "lots"),
        ("RENDER_TIMEOUT", "soon"),
        ("PORT", "80.5"),
    ],
)
def test_an_invalid_value_is_a_start_up_error_naming_the_variable(name, text) -> None:
    with pytest.raises(ValueError, match=f"EO_TILER_{name}='{text}'"):
        settings_from_env({f"EO_TILER_{name}": text})


def test_path_lists_split_on_the_path_separator() -> None:
    settings = settings_from_env({"EO_TILER_COLLECTIONS": "/a.toml:/b.toml", "EO_TILER_LAYERS": "/styles"})
    assert settings.collection_files == (Path("/a.toml"), Path("/b.toml"))
    assert settings.layer_dirs == (Path("/styles"),)
