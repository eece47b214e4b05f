import pytest

from curation import formats
from curation.formats import FORMATS, UnknownFormat


def test_every_format_is_registered_under_its_name_with_what_it_can_do():
    for name, module in FORMATS.items():
        assert module.NAME == name
        for capability in module.CAPABILITIES:
            assert callable(getattr(module, capability)), (name, capability)


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownFormat) as e:
        formats.get("jsonl")
    assert str(e.value).startswith(
        'there is no format called "jsonl". Fix: choose one of alpaca, alpaca_preference,'
    )
    assert formats.get("alpaca") is FORMATS["alpaca"]
