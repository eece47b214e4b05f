"""The format registry: one module per format, each with NAME, read and/or write."""

from __future__ import annotations

from types import ModuleType

from . import (
    alpaca,
    alpaca_preference,
    csv_in,
    hf_datasets,
    messages_preference,
    openai_chat,
    openai_dpo,
    sharegpt,
    sharegpt_messages,
    template_text,
    trl_preference,
)
from .base import FormatError

FORMATS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        alpaca,
        alpaca_preference,
        sharegpt,
        sharegpt_messages,
        openai_chat,
        trl_preference,
        openai_dpo,
        messages_preference,
        template_text,
        csv_in,
        hf_datasets,
    )
}


class UnknownFormat(FormatError):
    def __init__(self, name: str):
        super().__init__(
            0, f'there is no format called "{name}"', hint="choose one of " + ", ".join(FORMATS)
        )

    def __str__(self) -> str:
        return f"{self.message}. Fix: {self.hint}."


def get(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(name) from None
