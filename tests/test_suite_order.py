"""The suite's own scheduling: the long files that `make test` hands out first still exist
(a file renamed without its line here would start in name order, late, and lengthen the run)."""

import pathlib

from tests.conftest import _LONGEST_FIRST

TESTS = pathlib.Path(__file__).parent


def test_the_longest_files_exist_once_each():
    missing = [path for path in _LONGEST_FIRST if not (TESTS / path).is_file()]
    assert not missing, f"tests/conftest.py names files that are gone: {missing}"
    assert len(set(_LONGEST_FIRST)) == len(_LONGEST_FIRST)
