"""The prompt setups a project's models are run with, in one place.

- full: the project's system prompt, its tool schemas and its prompt template — what drafting
  gives a base model;
- long: full plus a few worked examples — the untuned contender of a comparison;
- short: the record alone under a one-line system prompt, the project's name, and without the
  schemas of the project's tools (exports carry them on every row; tools a row brings beyond
  the project's stay) — what a tuned model is trained and run with. Tuning is what lets the
  long prompt go (the seed note's trade: cost and response time). The line gives the tuned
  behaviour a context of its own: without it the model's default system line fills the slot,
  the very context general questions are asked in (the forgetting probe's), and an adapter
  that learnt "answer with a tool call" there answered general questions with tool calls.
"""

from __future__ import annotations

from curation.models import Project
from training.prompting import PromptSpec, build_messages, function_specs, render_prompt

STYLES = ("short", "full", "long")


def prompt_spec(project: Project, style: str, *, few_shot: list | None = None) -> dict:
    """PromptSpec fields (training.prompting.PromptSpec.from_dict) for `style`."""
    if style == "short":
        return {
            "system_prompt": short_system_line(project),
            "tools": None,
            "omit_tools": project_tool_names(project),
            "template": project.prompt_template or None,
        }
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


def project_tool_names(project: Project) -> list[str]:
    return [f["name"] for f in function_specs(project.tools or [])]


def short_system_line(project: Project) -> str:
    """The short prompt's system prompt: the project's name, on one line."""
    return " ".join(project.name.split())


class _NoChatTemplate:
    """A tokenizer stand-in for models without a chat template: prompting then renders the
    project's prompt template, which needs nothing of a tokenizer but its end-of-text mark."""

    chat_template = None
    eos_token = ""


def settings_preview(project: Project, messages: list[dict], *, tools=None) -> dict:
    """What the full setup (drafting's) gives a model for one record, through the same
    prompting code: the chat messages a chat template receives, and the prompt-template text a
    model without one gets. `project` may hold unsaved settings. Raises PromptError."""
    spec = PromptSpec.from_dict(prompt_spec(project, "full"))
    chat = build_messages(spec, messages=messages, tools=tools)
    template_spec = PromptSpec.from_dict({**prompt_spec(project, "full"), "mode": "template"})
    text = render_prompt(_NoChatTemplate(), template_spec, messages, tools=tools)
    return {"messages": chat, "template_text": text}
