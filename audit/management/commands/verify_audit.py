from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import (
    audit_check_anchors,
    audit_head,
    audit_seal,
    audit_unsealed_count,
    audit_verify,
)


class Command(BaseCommand):
    help = (
        "Seal the events appended so far, then check the hash chain of the audit trail; "
        "exit non-zero listing every broken link. "
        "With --anchor-file, also check the chain heads recorded there earlier (so removed "
        "newest entries or a recomputed chain are found) and append the current head."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor-file",
            type=Path,
            help="a file kept OUTSIDE the database (other machine, write-once storage)",
        )

    def handle(self, *args, anchor_file: Path | None = None, **options):
        sealed = audit_seal()  # before checking and before anchoring (ADR 0014)
        problems = audit_verify()
        anchors: list[tuple[int, str]] = []
        if anchor_file and anchor_file.exists():
            for line in anchor_file.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0].isdigit():
                    anchors.append((int(parts[0]), parts[1]))
            problems += audit_check_anchors(anchors)
        if problems:
            for p in problems:
                self.stderr.write(p)
            raise CommandError(f"audit trail broken: {len(problems)} problem(s)")
        head = audit_head()
        if anchor_file and head and (not anchors or anchors[-1] != head):
            with anchor_file.open("a", encoding="utf-8") as f:
                f.write(f"{head[0]} {head[1]} {timezone.now().isoformat()}\n")
        where = f"head event {head[0]} {head[1]}" if head else "empty"
        note = f"; sealed {sealed} event(s) now" if sealed else ""
        waiting = audit_unsealed_count()
        if waiting:
            note += f"; {waiting} appended meanwhile, not sealed yet"
        self.stdout.write(self.style.SUCCESS(f"audit trail intact ({where}{note})"))
