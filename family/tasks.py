from celery import shared_task

from .services import links_record_expired, links_remind_expiring


@shared_task(acks_late=True)
def link_expiry_sweep() -> dict:
    """Daily: a reminder 30 days before a link ends, and the record that it
    ended. Each is claimed per link and end date by a conditional UPDATE, so a
    second run or a redelivery records nothing twice. Access itself stops at
    the end date on every request, whether or not this runs."""
    return {"reminded": links_remind_expiring(), "expired": links_record_expired()}
