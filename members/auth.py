"""Sign-in: members with identity number or phone, staff with a username."""

from __future__ import annotations

import re

from django.contrib.auth.backends import ModelBackend

from .idnumber import looks_like_id_number
from .models import User
from .selectors import person_by_id_number

_PHONE = re.compile(r"^\+?\d{11,15}$")


class IdentityNumberOrPhoneBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        login = (username or kwargs.get(User.USERNAME_FIELD) or "").strip()
        if not login or password is None:
            return None
        user: User | None = None
        if looks_like_id_number(login):
            person = person_by_id_number(login)
            user = person.user if person else None
        elif _PHONE.match(login):
            user = User.objects.filter(phone=login).first()
        else:
            return super().authenticate(request, username=login, password=password)
        if user is None:
            # Same cost as a real check, so response time does not reveal who exists.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
