"""Operations tests reuse the claims fixtures (policies, institutions)."""

from tests.claims.conftest import hospital, policies  # noqa: F401
