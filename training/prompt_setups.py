"""The prompt setups a project's models are run with, in one place.

- full: the project's system prompt, its tool schemas and its prompt template — what drafting
  gives a base model;
- long: full plus a few worked examples — the untuned contender of a comparison;
- short: the record alone (its own tools kept) — what a tuned model is trained and run with.
  Tuning is what lets the long prompt go (the seed note's trade: cost and response time).
"""

from __future__ import annotations

from curation.models import Project

STYLES = ("short", "full", "long")


def prompt_spec(project: Project, style: str, *, few_shot: list | None = None) -> dict:
    """PromptSpec fields (training.prompting.PromptSpec.from_dict) for `style`."""
    if style == "short":
        return {"system_prompt": "", "tools": None, "template": project.prompt_template or None}
    spec = {
        "system_prompt": project.system_prompt,
        "tools": project.tools or None,
        "template": project.prompt_template or None,
    }
    if style == "long":
        spec["few_shot"] = few_shot or []
    elif style != "full":
        raise ValueError(f"unknown prompt style {style!r}; use one of {', '.join(STYLES)}")
    return spec
