"""The nesting check that guards every JSON document tfcompare reads (sessions, REST requests):
the same answer as the plain recursive definition, on any document."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tfcompare.checks import nested_deeper_than

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=40,
)


def depth(value) -> int:
    """Levels of a document: 1 for a scalar or an empty container, one more than its deepest
    item for a container."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return 1 + max((depth(item) for item in items), default=0)


@given(documents, st.integers(min_value=1, max_value=8))
def test_the_check_agrees_with_the_recursive_definition(document, limit):
    assert nested_deeper_than(document, limit) == (depth(document) > limit)


def test_a_document_deeper_than_the_stack_is_caught_without_recursion():
    deep = []
    for _ in range(200_000):
        deep = [deep]
    assert nested_deeper_than(deep, 64)
    assert not nested_deeper_than(deep, 200_001)


def test_a_wide_flat_document_is_one_level_of_numbers():
    assert not nested_deeper_than({"values": list(range(1_000_000))}, 3)  # object, list, numbers
    assert nested_deeper_than({"values": list(range(1_000_000))}, 2)
    assert nested_deeper_than({"values": [[1]]}, 3)
