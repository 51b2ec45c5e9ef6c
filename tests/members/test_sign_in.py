from django.urls import reverse

from tests.conftest import PASSWORD


def _post_login(client, login, password=PASSWORD):
    return client.post(reverse("login"), {"username": login, "password": password})


def test_member_signs_in_with_identity_number(client, alice):
    response = _post_login(client, alice.id_number)

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session["_auth_user_id"] == str(alice.user.pk)


def test_member_signs_in_with_lowercase_x_and_spaces(client, db):
    import datetime as dt

    from tests.conftest import make_member

    p = make_member("X", birth=dt.date(1949, 12, 31), seq=2)  # ends in X
    assert p.id_number.endswith("X")

    response = _post_login(client, f"  {p.id_number.lower()} ")

    assert response.status_code == 302


def test_member_signs_in_with_phone(client, alice):
    response = _post_login(client, "13900000001")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.user.pk)


def test_staff_signs_in_with_username(client, staff):
    response = _post_login(client, "staff")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_wrong_password_is_refused_with_a_clear_message(client, alice):
    response = _post_login(client, alice.id_number, "wrong")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "do not match" in response.content.decode() or "不匹配" in response.content.decode()


def test_unknown_identity_number_is_refused(client, alice, bob):
    response = _post_login(client, "11010519491231002X")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_home_requires_sign_in(client, db):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_shows_the_members_own_number(client_for, alice):
    response = client_for(alice).get(reverse("home"))

    assert response.status_code == 200
    assert alice.id_number in response.content.decode()


def test_password_change_then_sign_in_with_new_password(client_for, alice, client):
    c = client_for(alice)
    response = c.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "N3w-pa55word!x",
            "new_password2": "N3w-pa55word!x",
        },
    )
    assert response.status_code == 302
    c.post(reverse("logout"))

    assert _post_login(client, alice.id_number, PASSWORD).status_code == 200
    assert _post_login(client, alice.id_number, "N3w-pa55word!x").status_code == 302


def test_sign_out(client_for, alice):
    c = client_for(alice)

    response = c.post(reverse("logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in c.session


def test_language_switch_to_english_and_back(client, db):
    page = client.get(reverse("login"))
    assert "登录" in page.content.decode()

    client.post(reverse("set_language"), {"language": "en", "next": "/accounts/login/"})
    english = client.get(reverse("login")).content.decode()
    assert "Sign in" in english
    assert "登录" not in english

    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/accounts/login/"})
    assert "登录" in client.get(reverse("login")).content.decode()
