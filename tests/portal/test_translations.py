"""Every user-facing string has a Simplified Chinese translation, compiled."""

import subprocess
import sys
from pathlib import Path

from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import po_fill  # noqa: E402


def test_chinese_catalogue_is_complete():
    po = po_fill.PO.read_text(encoding="utf-8")

    _, missing = po_fill.fill(po, po_fill.load_translations())

    assert missing == [], "run `make messages` after adding texts to locale/zh_Hans/src/"
    # msgfmt leaves fuzzy entries out of the compiled catalogue: the page would
    # show English ("张伟's account" on a Chinese page).
    fuzzy = [ln for ln in po.splitlines() if ln.startswith("#,") and "fuzzy" in ln]
    assert fuzzy == [], "fuzzy entries in django.po: run `make messages`"


def test_compiled_catalogue_matches_the_po(tmp_path):
    for lang in ("zh_Hans", "en"):
        src = ROOT / f"locale/{lang}/LC_MESSAGES/django.po"
        out = tmp_path / f"{lang}.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(out), str(src)], check=True)

        assert out.read_bytes() == src.with_suffix(".mo").read_bytes(), (
            f"run `make messages` ({lang})"
        )


def test_every_msgid_is_translated_in_the_compiled_catalogue():
    po = po_fill.PO.read_text(encoding="utf-8")
    msgids = []
    for entry in po.split("\n\n"):
        lines = entry.splitlines()
        starts = [n for n, ln in enumerate(lines) if ln.startswith("msgid ")]
        if not starts or any(ln.startswith("msgid_plural") for ln in lines):
            continue
        i = starts[0]
        j = next(n for n, ln in enumerate(lines) if ln.startswith("msgstr "))
        msgid = po_fill._unquote([lines[i][6:], *lines[i + 1 : j]])
        if msgid:
            msgids.append(msgid)

    with translation.override("zh-hans"):
        untranslated = [m for m in msgids if translation.gettext(m) == m]

    # A few texts read the same in both languages (codes, numbers, names).
    assert [m for m in untranslated if any(c.isalpha() for c in m)] == []


def test_a_formatted_title_is_translated():
    with translation.override("zh-hans"):
        assert translation.gettext("%(name)s's account") % {"name": "张伟"} == "张伟的账户"


def test_chinese_is_the_default_language():
    with translation.override("zh-hans"):
        assert translation.gettext("Sign in") == "登录"
