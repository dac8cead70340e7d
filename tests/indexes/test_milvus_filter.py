"""Which Haystack filters become Milvus expressions, and how (the rest is filtered after the search)."""
from __future__ import annotations

from indexes.milvus_filter import milvus_expression


def test_comparisons_and_lists_on_meta_fields_translate() -> None:
    assert milvus_expression({"field": "meta.year", "operator": ">=", "value": 2020}) == 'meta["year"] >= 2020'
    assert milvus_expression({"field": "meta.lang", "operator": "==", "value": "en"}) == 'meta["lang"] == "en"'
    assert milvus_expression({"field": "meta.lang", "operator": "in", "value": ["en", "de"]}) == (
        '(meta["lang"] == "en" or meta["lang"] == "de")')
    both = {"operator": "OR", "conditions": [{"field": "meta.year", "operator": "<", "value": 2.5},
                                             {"field": "meta.lang", "operator": "==", "value": "en"}]}
    assert milvus_expression(both) == '(meta["year"] < 2.5 or meta["lang"] == "en")'


def test_an_and_keeps_what_translates_and_the_rest_is_left_to_the_post_filter() -> None:
    mixed = {"operator": "AND", "conditions": [{"field": "meta.year", "operator": ">", "value": 2000},
                                               {"field": "meta.lang", "operator": "!=", "value": "en"}]}
    assert milvus_expression(mixed) == '(meta["year"] > 2000)'
    assert milvus_expression({"operator": "OR", "conditions": mixed["conditions"]}) is None


def test_meanings_that_differ_are_not_translated() -> None:
    for condition in ({"field": "meta.flag", "operator": "==", "value": True},  # Python's True == 1
                      {"field": "meta.date", "operator": ">", "value": "2020-01-01"},  # Haystack parses dates
                      {"field": "meta.x", "operator": "==", "value": None},
                      {"field": "meta.x", "operator": "==", "value": 'quote " inside'},
                      {"field": "content", "operator": "==", "value": "text"},
                      {"field": "meta.a.b", "operator": "==", "value": 1},
                      {"field": "meta.x", "operator": "not in", "value": [1]},
                      {"operator": "NOT", "conditions": [{"field": "meta.x", "operator": "==", "value": 1}]}):
        assert milvus_expression(condition) is None, condition
