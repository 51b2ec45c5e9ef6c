"""Fill the Simplified Chinese catalogue from locale/zh_Hans/src/*.json.

Each JSON file maps an English msgid to its Chinese text (one file per area,
so people working on different apps do not edit the same file). Run by
``make messages`` between makemessages and compilemessages. Exits 1 listing
msgids that have no translation.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"
SRC = ROOT / "locale/zh_Hans/src"


def _unquote(lines: list[str]) -> str:
    return "".join(json.loads(line) for line in lines)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def load_translations() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(SRC.glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def _unfuzzy(line: str) -> str | None:
    """Drop the ``fuzzy`` flag (msgfmt skips fuzzy entries, so a guessed
    translation would silently show English); other flags stay."""
    if not line.startswith("#,"):
        return line
    flags = [f.strip() for f in line[2:].split(",") if f.strip() and f.strip() != "fuzzy"]
    return "#, " + ", ".join(flags) if flags else None


def fill(po_text: str, translations: dict[str, str]) -> tuple[str, list[str]]:
    entries = po_text.split("\n\n")
    missing: list[str] = []
    out = []
    for entry in entries:
        lines = entry.split("\n")
        try:
            i = next(n for n, ln in enumerate(lines) if ln.startswith("msgid "))
        except StopIteration:
            out.append(entry)
            continue
        j = next(n for n, ln in enumerate(lines) if ln.startswith(("msgstr ", "msgid_plural ")))
        msgid = _unquote([lines[i][6:], *lines[i + 1 : j]])
        if not msgid or any(ln.startswith("msgid_plural") for ln in lines):
            out.append(entry)
            continue
        k = next(n for n, ln in enumerate(lines) if ln.startswith("msgstr "))
        end = k + 1
        while end < len(lines) and lines[end].startswith('"'):
            end += 1
        text = translations.get(msgid)
        if text is None:
            missing.append(msgid)
            out.append(entry)
            continue
        lines = [_unfuzzy(ln) for ln in lines[:k] if not ln.startswith("#|")]
        lines = [ln for ln in lines if ln is not None] + [f"msgstr {_quote(text)}"]
        lines += entry.split("\n")[end:]
        out.append("\n".join(lines))
    return "\n\n".join(out), missing


def main() -> int:
    text, missing = fill(PO.read_text(encoding="utf-8"), load_translations())
    text = re.sub(r'"Language: \\n"', r'"Language: zh_Hans\\n"', text)
    text = text.replace('#, fuzzy\nmsgid ""\nmsgstr ""', 'msgid ""\nmsgstr ""', 1)
    text = re.sub(r'"Plural-Forms: [^"]*\\n"', r'"Plural-Forms: nplurals=1; plural=0;\\n"', text)
    PO.write_text(text, encoding="utf-8")
    if missing:
        sys.stderr.write("Untranslated (add them to locale/zh_Hans/src/*.json):\n")
        for m in missing:
            sys.stderr.write(f"  {m!r}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
