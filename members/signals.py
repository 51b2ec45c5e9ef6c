"""Drop the cached signed-in user (``members.auth``) whenever the user or the
person behind them changes, so every change counts from the next request.

The entry is dropped at once and again after the commit: a request that read
the old row while the change was still uncommitted may have put it back.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .auth import user_cache_key
from .models import InsuredPerson, User


def forget_user(user_id) -> None:
    if user_id is None:
        return
    key = user_cache_key(user_id)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


@receiver(post_save, sender=User, dispatch_uid="members.forget_user_saved")
@receiver(post_delete, sender=User, dispatch_uid="members.forget_user_deleted")
def _user_changed(sender, instance: User, **kwargs) -> None:
    forget_user(instance.pk)


@receiver(post_save, sender=User, dispatch_uid="members.revoke_tokens")
def _revoke_tokens(sender, instance: User, created=False, update_fields=None, raw=False, **kwargs):
    """A password change or a deactivation revokes the user's API tokens.

    A signal, not a service call, because passwords change in several places
    that all end in ``set_password`` + ``save`` (the password page, the admin,
    ``manage.py changepassword``); Django keeps the new raw password in
    ``_password`` until just after this signal."""
    if raw or created:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    from .services import member_tokens_revoke

    if getattr(instance, "_password", None) is not None:
        member_tokens_revoke(user_id=instance.pk, reason="password_changed")
    elif not instance.is_active:
        member_tokens_revoke(user_id=instance.pk, reason="deactivated")


@receiver(pre_save, sender=InsuredPerson, dispatch_uid="members.person_user_before")
def _person_user_before(sender, instance: InsuredPerson, raw=False, update_fields=None, **kwargs):
    # A person moved to another user (rare): the previous user's entry holds it too.
    if raw or instance.pk is None or (update_fields is not None and "user" not in update_fields):
        return
    instance._previous_user_id = (
        InsuredPerson.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    )


@receiver(post_save, sender=InsuredPerson, dispatch_uid="members.forget_person_saved")
@receiver(post_delete, sender=InsuredPerson, dispatch_uid="members.forget_person_deleted")
def _person_changed(sender, instance: InsuredPerson, **kwargs) -> None:
    forget_user(instance.user_id)
    previous = getattr(instance, "_previous_user_id", None)
    if previous != instance.user_id:
        forget_user(previous)


@receiver(user_login_failed, dispatch_uid="members.count_address_failure")
def _count_address_failure(sender, credentials=None, request=None, **kwargs) -> None:
    """Every failed sign-in (page or token API) counts against the address."""
    if request is not None:
        from portal.throttles import signin_address_failed

        signin_address_failed(request)
