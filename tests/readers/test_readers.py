"""The reader registry: found by name, every recipe's reader known, a clear error otherwise."""

from __future__ import annotations

import pytest

from neuralbench.catalog import RECIPES
from neuralbench.errors import RecipeError
from neuralbench.readers import READERS, Reader, get_reader, register


def test_every_recipe_names_a_registered_reader_and_valid_parameters():
    for recipe in RECIPES.values():
        reader = get_reader(recipe.reader)
        assert isinstance(reader, Reader) and reader.name == recipe.reader
        unknown = set(recipe.params) - set(reader.parameters())
        assert not unknown, f"{recipe.name}: {sorted(unknown)} are not parameters of {reader.name}"


def test_an_unknown_reader_is_refused_with_the_known_names():
    with pytest.raises(RecipeError, match=r"unknown reader 'nwb-unitz'; known: .*nwb-units"):
        get_reader("nwb-unitz")


def test_a_registered_reader_is_found_by_name():
    class Probe(Reader):
        name = "probe-for-tests"

        def open_session(self, path, *, gain: float = 1.0):
            raise NotImplementedError

    try:
        assert register(Probe) is Probe
        assert isinstance(get_reader("probe-for-tests"), Probe)
        assert Probe.parameters() == ["gain"]
    finally:
        READERS.pop("probe-for-tests", None)
