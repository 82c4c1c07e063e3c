"""Where the Jinja templates and their strings live, and the Jinja environment that renders them.

The templates are part of the course repository (top-level `templates/`), so instructors can
reword the PR comment without touching code. They are found, in this order: a folder given
explicitly; `templates/` at the repository root above the working directory (the folder with
course.yaml, as the workflows run); the source checkout this package was imported from.
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path
from typing import Any

from grader.errors import InputError
from grader.findings import Finding, Location

TEMPLATE_NAMES = ("pr_comment.md.j2", "job_summary.md.j2", "check_run.md.j2", "leaderboard.md.j2")
LANGUAGES = ("ru", "en")


def _usable(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TEMPLATE_NAMES) and all(
        (folder / "i18n" / f"{lang}.yaml").is_file() for lang in LANGUAGES
    )


def find_templates(explicit: Path | None = None, *, start: Path | None = None) -> Path:
    """The templates folder; an InputError (R001) naming every place looked at if none is usable."""
    from grader.cli_common import find_repo_root

    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(explicit)
    else:
        root = find_repo_root(start)
        if root is not None:
            candidates.append(root / "templates")
        candidates.append(Path(__file__).resolve().parents[2] / "templates")
    for folder in candidates:
        if _usable(folder):
            return folder
    needed = ", ".join([*TEMPLATE_NAMES, "i18n/ru.yaml", "i18n/en.yaml"])
    raise InputError(
        [
            Finding(
                code="R001",
                location=Location(file=str(candidates[0])),
                message="the report templates were not found",
                expected=f"a templates/ folder with {needed}",
                found="looked in: " + ", ".join(str(c) for c in dict.fromkeys(candidates)),
                hint="run the grader inside the course repository (its templates/ folder), "
                "or pass --templates DIR",
            )
        ]
    )


class Strings:
    """The user-facing strings of one language: `s("table.size")`, `s("cell.off", claimed=...)`."""

    def __init__(self, language: str, data: dict[str, Any]) -> None:
        self.language = language
        self.flat = flatten(data)

    def __call__(self, key: str, **params: Any) -> str:
        try:
            text = self.flat[key]
        except KeyError:
            raise KeyError(f"no string {key!r} in templates/i18n/{self.language}.yaml") from None
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self.flat

    def count(self, key: str, n: int) -> str:
        """A number with the noun in its plural form: `s.count("env.cores", 2)` is "2 ядра".

        The string holds one form per plural category, separated by `|` ("{n} ядро|{n} ядра|{n}
        ядер"); a string with fewer forms than the language has uses its last one for the rest.
        """
        forms = self(key).split("|")
        return forms[min(plural_category(self.language, n), len(forms) - 1)].format(n=n)


def plural_category(language: str, n: int) -> int:
    """Index of the plural form for ``n``: Russian one / few / many (CLDR), English one / other."""
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 1


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = str(value)
    return out


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load_strings(templates: Path, language: str) -> Strings:
    from grader.yamlio import load_yaml_file

    path = templates / "i18n" / f"{language}.yaml"
    if language not in LANGUAGES:
        raise InputError(
            [
                Finding(
                    code="R002",
                    location=Location(file=str(path)),
                    message=f"no strings for language {language!r}",
                    expected="ru or en",
                    found=language,
                    hint="use --language ru or --language en (or set `language:` in course.yaml)",
                )
            ]
        )
    loaded = load_yaml_file(path)
    if loaded.findings or not isinstance(loaded.data, dict):
        raise InputError(loaded.findings or [_bad_strings(path)])
    return Strings(language, loaded.data)


def _bad_strings(path: Path) -> Finding:
    return Finding(
        code="R002",
        location=Location(file=str(path)),
        message="the strings file is empty or not a mapping",
        expected="nested `key: text` lines",
        hint="restore it from the repository",
    )


# --- Markdown safety ------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#])")
# An underscore inside a word is never emphasis (GitHub Flavored Markdown), so `macro_f1` stays
# as it is; one at a word's edge could start emphasis and is escaped.
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


_INVISIBLE = frozenset({"Cf", "Cc"})  # Unicode's format and control characters


def visible(text: str) -> str:
    """Invisible characters written out as `⟨U+202E⟩`: bidi overrides and isolates would reorder
    the rest of the line (a name that reads as another team's, a number shown backwards), and
    zero-width characters make two different names look the same. Unicode calls them all format
    (Cf) or control (Cc) characters; none belongs in a name, a claim or a message."""
    return "".join(f"⟨U+{ord(c):04X}⟩" if unicodedata.category(c) in _INVISIBLE else c for c in text)


def md(value: Any) -> str:
    """Text from a submission, made inert in Markdown: no tables broken by `|`, no HTML, no
    links or images, no @mentions (a word joiner after @ keeps GitHub from notifying), no bidi
    overrides or zero-width characters (written out, see `visible`)."""
    text = visible(" ".join(str(value).split()))
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    return text.replace("@", "@\u2060")


def code(value: Any) -> str:
    """Inline code that survives backticks in the text (CommonMark: a longer fence)."""
    text = visible(" ".join(str(value).split())).replace("@", "@\u2060").replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def environment(templates: Path):  # -> jinja2.Environment
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML: submission text goes through the `md` filter
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    env.filters["code"] = code
    return env


_BLANKS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
