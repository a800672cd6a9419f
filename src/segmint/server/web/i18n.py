"""Languages of the web app: gettext catalogs for English and 繁體中文.

Messages are written in English in the code and templates (``_("Customers")``,
``{% trans %}…{% endtrans %}``); translations live in ``.po`` files in the package:
``locale/<lang>/LC_MESSAGES/*.po`` (every ``.po`` file of a language is merged, so each page
group can keep its own file). They are compiled in memory by :func:`compile_po` (a small
msgfmt: Babel and Python's ``Tools/i18n/msgfmt.py`` are not always installed) the first time a
language is used, and read with the standard library's :class:`gettext.GNUTranslations`.

Example:
    >>> translations("zh-Hant").gettext("Customers")
    '客戶'
    >>> translations("en").gettext("Customers")
    'Customers'
    >>> mo = compile_po('msgid "Hi"\\nmsgstr "你好"\\n')
    >>> import gettext, io
    >>> gettext.GNUTranslations(io.BytesIO(mo)).gettext("Hi")
    '你好'
"""

from __future__ import annotations

import ast
import functools
import gettext
import io
import struct
from pathlib import Path

from segmint.errors import ValidationError

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "N_",
    "compile_po",
    "parse_po",
    "pick_language",
    "translations",
]

#: Languages of the web app; the first is the default.
LANGUAGES = ("en", "zh-Hant")

#: Each language named in itself (the language switch shows these).
LANGUAGE_NAMES = {"en": "English", "zh-Hant": "繁體中文"}

LOCALE_DIR = Path(__file__).parent / "locale"

#: gettext folder of each language (a POSIX locale name cannot hold '-').
_FOLDERS = {"en": "en", "zh-Hant": "zh_Hant"}


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (nav labels, constants)."""
    return message


def _unquote(text: str, where: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValidationError(
            f"A .po string must be a quoted string. Got {text!r}.", location=where
        ) from None
    if not isinstance(value, str):
        raise ValidationError(
            f"A .po string must be a quoted string. Got {text!r}.", location=where
        )
    return value


def parse_po(text: str, *, source: str = "<po>") -> dict[str, str]:
    """msgid → msgstr of a .po file (plural forms: ``"singular\\0plural"`` → ``"a\\0b"``).

    Fuzzy entries and empty translations are left out, as msgfmt does.

    >>> parse_po('#, fuzzy\\nmsgid "a"\\nmsgstr "b"\\n\\nmsgid "c"\\nmsgstr ""\\n"d"\\n')
    {'c': 'd'}
    """
    entries: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    current: str | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal fields, fuzzy, current
        if "msgid" in fields:
            msgid = "".join(fields["msgid"])
            if "msgid_plural" in fields:
                msgid += "\0" + "".join(fields["msgid_plural"])
                forms = sorted(k for k in fields if k.startswith("msgstr["))
                msgstr = "\0".join("".join(fields[k]) for k in forms)
            else:
                msgstr = "".join(fields.get("msgstr", []))
            if msgstr.strip("\0") and (not fuzzy or msgid == ""):
                entries[msgid] = msgstr
        fields, fuzzy, current = {}, False, None

    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{n}"
        if not line:
            flush()
        elif line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                if "msgid" in fields:
                    flush()
                fuzzy = True
        elif line.startswith('"'):
            if current is None:
                raise ValidationError("A continued string has no msgid/msgstr.", location=where)
            fields[current].append(_unquote(line, where))
        else:
            keyword, _, rest = line.partition(" ")
            if keyword == "msgid" and "msgid" in fields:
                flush()
            if keyword not in ("msgid", "msgid_plural", "msgstr", "msgctxt") and not (
                keyword.startswith("msgstr[")
            ):
                raise ValidationError(f"Unknown .po keyword {keyword!r}.", location=where)
            current = keyword
            fields[keyword] = [_unquote(rest.strip(), where)]
    flush()
    return entries


def compile_po(text: str, *, source: str = "<po>") -> bytes:
    """The GNU ``.mo`` bytes of a ``.po`` text (what ``msgfmt`` writes)."""
    return _mo(parse_po(text, source=source))


_HEADER = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def _mo(entries: dict[str, str]) -> bytes:
    entries = {"": _HEADER, **entries}
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    n = len(keys)
    header = 7 * 4
    id_table = header
    str_table = id_table + n * 8
    data_start = str_table + n * 8
    offsets: list[tuple[int, int]] = []
    blob = b""
    for s in ids + strs:
        offsets.append((len(s), data_start + len(blob)))
        blob += s + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, n, id_table, str_table, 0, 0)
    out += b"".join(struct.pack("<2I", *o) for o in offsets[:n])
    out += b"".join(struct.pack("<2I", *o) for o in offsets[n:])
    return out + blob


def check_language(lang: str) -> str:
    """``lang`` if the web app speaks it, else a ValidationError with the close name."""
    from segmint.errors import close_matches

    if lang not in LANGUAGES:
        raise ValidationError(
            f"The language must be one of {', '.join(LANGUAGES)}. Got '{lang}' instead.",
            suggestions=close_matches(lang, LANGUAGES),
        )
    return lang


@functools.cache
def translations(lang: str) -> gettext.GNUTranslations | gettext.NullTranslations:
    """The merged catalog of ``lang`` (every ``.po`` file of its folder), compiled once."""
    check_language(lang)
    folder = LOCALE_DIR / _FOLDERS[lang] / "LC_MESSAGES"
    entries: dict[str, str] = {}
    header = _HEADER
    for po in sorted(folder.glob("*.po")):
        found = parse_po(po.read_text(encoding="utf-8"), source=str(po))
        header = found.pop("", header)
        entries.update(found)
    if not entries:
        return gettext.NullTranslations()
    entries[""] = header
    return gettext.GNUTranslations(io.BytesIO(_mo(entries)))


def pick_language(accept_language: str | None, default: str = "en") -> str:
    """The web app language that best fits an ``Accept-Language`` header.

    >>> pick_language("zh-TW,zh;q=0.9,en;q=0.8"), pick_language("fr, en;q=0.5")
    ('zh-Hant', 'en')
    """
    best, best_q = default, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag.startswith("zh"):
            lang = "zh-Hant"  # Traditional Chinese is the only Chinese we speak
        elif tag.startswith("en"):
            lang = "en"
        else:
            continue
        if q > best_q:
            best, best_q = lang, q
    return best
