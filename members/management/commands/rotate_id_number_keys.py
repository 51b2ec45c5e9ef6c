"""Re-encrypt identity numbers with the current key and re-hash them with the
current hash key, in batches. Idempotent: rows already current are skipped,
and an interrupted run can simply be started again.

Rotation, step by step (docs/adr/0004-personal-data.md):
1. put the new key first: ID_NUMBER_KEYS=<new>,<old> (and/or
   ID_NUMBER_HASH_KEY=<new>,<old>), restart the portal and workers;
2. run ``python manage.py rotate_id_number_keys``;
3. drop the old key from the lists and restart.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from members import crypto
from members.models import InsuredPerson


class Command(BaseCommand):
    help = "Re-encrypt identity numbers with the first ID_NUMBER_KEYS key (and re-hash)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        last_pk = 0
        reencrypted = rehashed = unchanged = 0
        while True:
            with transaction.atomic():
                batch = list(
                    InsuredPerson.objects.select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("pk", "id_number_encrypted", "id_number_hash")[:batch_size]
                )
                if not batch:
                    break
                for person in batch:
                    changed = []
                    if not crypto.is_current(person.id_number_encrypted):
                        person.id_number_encrypted = crypto.rotate(person.id_number_encrypted)
                        changed.append("id_number_encrypted")
                        reencrypted += 1
                    digest = crypto.id_number_hash(crypto.decrypt(person.id_number_encrypted))
                    if digest != person.id_number_hash:
                        person.id_number_hash = digest
                        changed.append("id_number_hash")
                        rehashed += 1
                    if changed:
                        person.save(update_fields=changed)
                    else:
                        unchanged += 1
                last_pk = batch[-1].pk
        self.stdout.write(
            self.style.SUCCESS(
                f"re-encrypted {reencrypted}, re-hashed {rehashed}, already current {unchanged}"
            )
        )
