from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import ledger_offenders
from portal.money import format_yuan


class Command(BaseCommand):
    help = (
        "Prove the ledger: every account's cached balance equals the sum of its postings "
        "and every transaction balances. Exits non-zero listing every offender."
    )

    def handle(self, *args, **options):
        offenders = ledger_offenders()
        for aid, code, cached, summed in offenders.accounts:
            self.stderr.write(
                f"account {aid} {code}: cached balance {format_yuan(cached)} "
                f"!= sum of postings {format_yuan(summed)}"
            )
        for tid, key, total, count in offenders.transactions:
            self.stderr.write(
                f"transaction {tid} {key}: postings sum to {format_yuan(total)} "
                f"over {count} posting(s)"
            )
        if not offenders.clean:
            raise CommandError(
                f"ledger NOT consistent: {len(offenders.accounts)} account(s), "
                f"{len(offenders.transactions)} transaction(s) wrong"
            )
        self.stdout.write(self.style.SUCCESS("ledger consistent"))
