"""The words people read, in English or in German: what `status`, `doctor` and `stats` print
follows ui.language, with numbers and dates in that language's format.

Texts are written in English where they are made, as templates: `tr("{n} polls", n=...)`.
luxlogd/base/german.py holds the German of every template; tests/test_german.py reads each
tr() call in the source and fails on a template without its German (and on German without
a template), and runs the commands in German looking for English words left.

The language is per thread of work (a context variable): a command sets it once from its
configuration; the daemon never does, so its journal lines stay English whatever the page
speaks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("luxlogd_language", default="en")


def use(language: str) -> None:
    """Speak this language from now on (in this thread of work)."""
    LANGUAGE.set("de" if language == "de" else "en")


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Speak this language within the block (what the web server does per request)."""
    token = LANGUAGE.set("de" if language == "de" else "en")
    try:
        yield
    finally:
        LANGUAGE.reset(token)


def german() -> bool:
    return LANGUAGE.get() == "de"


def language() -> str:
    """en or de: what the catalogue's texts are chosen by."""
    return LANGUAGE.get()


def tr(template: str, /, **values: Any) -> str:
    """The template in the current language, with the values put in."""
    if german():
        from luxlogd.base.german import GERMAN

        template = GERMAN.get(template, template)
    return template.format(**values) if values else template


def both(template: str, /, **values: Any) -> tuple[str, str]:
    """The English and the German of one text (for what is made once and shown in both)."""
    from luxlogd.base.german import GERMAN

    german_template = GERMAN.get(template, template)
    return template.format(**values), german_template.format(**values)


def number(value: float, digits: int = 0, *, grouped: bool = True) -> str:
    """12,345.6 in English, 12.345,6 in German."""
    text = f"{value:,.{digits}f}" if grouped else f"{value:.{digits}f}"
    if german():
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def plain(value: float) -> str:
    """A reading as it is, without a needless fraction: 48.5, 7, 13705500 (comma in German)."""
    text = f"{value:g}" if abs(value) < 1e15 else f"{value:.0f}"
    if "e" in text:
        text = f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0")
    return text.replace(".", ",") if german() else text


PLURALS = {  # English singular -> German singular and plural
    "gap": ("Lücke", "Lücken"),
    "poll": ("Abfrage", "Abfragen"),
    "problem": ("Problem", "Probleme"),
    "warning": ("Warnung", "Warnungen"),
    "clock jump": ("Uhrensprung", "Uhrensprünge"),
    "clock step": ("Uhrenschritt", "Uhrenschritte"),
    "damage event": ("Schadensfall", "Schadensfälle"),
    "record": ("Datensatz", "Datensätze"),
    "frame": ("Rahmen", "Rahmen"),
    "segment": ("Segment", "Segmente"),
    "day": ("Tag", "Tagen"),
    "time": ("Mal", "Mal"),
    "file": ("Datei", "Dateien"),
    "start": ("Start", "Starts"),
}


def count(amount: int, word: str) -> str:
    """1 gap, 2 gaps (1 Lücke, 2 Lücken)."""
    if german() and word in PLURALS:
        one, many = PLURALS[word]
        return f"{number(amount)} {one if amount == 1 else many}"
    return f"{number(amount)} {word}" + ("" if amount == 1 else "s")
