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
    assert "#, fuzzy\nmsgid" not in po


def test_compiled_catalogue_matches_the_po(tmp_path):
    for lang in ("zh_Hans", "en"):
        src = ROOT / f"locale/{lang}/LC_MESSAGES/django.po"
        out = tmp_path / f"{lang}.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(out), str(src)], check=True)

        assert out.read_bytes() == src.with_suffix(".mo").read_bytes(), (
            f"run `make messages` ({lang})"
        )


def test_chinese_is_the_default_language():
    with translation.override("zh-hans"):
        assert translation.gettext("Sign in") == "登录"
