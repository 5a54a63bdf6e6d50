"""The README's commands, as written: its fenced ``bash`` blocks, by section."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO

README = REPO / "README.md"


def blocks() -> dict[str, list[str]]:
    """Section heading -> the commands of its ``bash`` blocks as written (continuations
    joined, trailing ``  # comments`` dropped)."""
    found: dict[str, list[str]] = {}
    section = ""
    for part in re.split(r"^(## .*)$", README.read_text(), flags=re.MULTILINE):
        if part.startswith("## "):
            section = part[3:].strip()
            continue
        for block in re.findall(r"```bash\n(.*?)```", part, flags=re.DOTALL):
            joined = re.sub(r"\\\n\s*", "", block)
            commands = [re.sub(r"\s+# .*$", "", line).strip() for line in joined.splitlines()]
            found.setdefault(section, []).extend(c for c in commands if c)
    return found


def settings(command: str) -> dict[str, str]:
    """The ``-S key=value`` options of a `dvc exp run` command."""
    words = shlex.split(command)
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-S")
