from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import ledger_offenders, rule_offenders
from portal.money import format_yuan


class Command(BaseCommand):
    help = (
        "Prove the ledger: every account's cached balance equals the sum of its postings, "
        "every transaction balances, and the business rules hold (contribution credits, "
        "expenses' account parts, reversals, year-end rollovers; docs/adr/0001 and 0002). "
        "Exits non-zero listing every offender."
    )

    def handle(self, *args, **options):
        offenders = ledger_offenders()
        rules = rule_offenders()
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
        for offender in rules:
            self.stderr.write(f"{offender.rule}: {offender.what}: {offender.problem}")
        if not offenders.clean or rules:
            raise CommandError(
                f"ledger NOT consistent: {len(offenders.accounts)} account(s), "
                f"{len(offenders.transactions)} transaction(s) wrong, "
                f"{len(rules)} business rule breach(es)"
            )
        self.stdout.write(self.style.SUCCESS("ledger consistent"))
