"""portal.cache: Django's Redis cache, with one redis-py client per pool."""

from django.core.cache import cache


def test_the_cache_reuses_its_redis_client_and_still_works():
    client = cache._cache.get_client(write=True)

    assert cache._cache.get_client(write=False) is client  # one server: one pool, one client
    cache.set("portal-cache-test", {"n": 1}, 5)
    assert cache.get("portal-cache-test") == {"n": 1}
    cache.delete("portal-cache-test")
    assert cache.get("portal-cache-test") is None
