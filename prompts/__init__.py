"""Prompt texts live in this folder as ``*.md`` files; ``load_prompt`` reads one and checks its variables."""

from __future__ import annotations

import string
from importlib import resources

from ingest.errors import ConfigError


def load_prompt(name: str, variables: set[str]) -> str:
    """Read ``prompts/NAME.md`` and check that it uses exactly ``variables`` (``{name}`` fields)."""
    try:
        text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"prompt file prompts/{name}.md is missing") from e
    found = {field for _, field, _, _ in string.Formatter().parse(text) if field}
    if found != variables:
        raise ConfigError(
            f"prompts/{name}.md uses variables {sorted(found)}, expected {sorted(variables)}"
        )
    return text
