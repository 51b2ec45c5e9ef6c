"""Django's Redis cache, reusing one redis-py client per connection pool.

``django.core.cache.backends.redis.RedisCacheClient.get_client`` builds a new
``redis.Redis`` object for every cache call; each one copies redis-py's table of
response callbacks (about 170 entries), which was a fifth of the cost of a
signed-in request whose only work is reading the session and the user from the
cache. The client objects are thread-safe (connections come from the pool), so
one per pool is enough. Behaviour is otherwise Django's own.
"""

from __future__ import annotations

import time

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient

    def count(self, key, timeout: int, version=None) -> int:
        """Add one to the counter ``key`` (created at 0 with ``timeout`` when
        missing) and return it, in one round trip: ``SET NX EX`` then
        ``INCR`` in a pipeline (the rate limits, ``portal.throttles``)."""
        key = self.make_and_validate_key(key, version=version)
        client = self._cache.get_client(key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])


# Operation times and get hits/misses for Prometheus (portal/metrics.py).
_MISS = object()


def _timed(name):
    base = getattr(DjangoRedisCache, name)

    def method(self, *args, **kwargs):
        from .metrics import CACHE_OPS

        started = time.perf_counter()
        try:
            return base(self, *args, **kwargs)
        finally:
            CACHE_OPS.labels(name).observe(time.perf_counter() - started)

    method.__name__ = name
    return method


for _name in ("set", "add", "delete", "get_many", "set_many", "delete_many", "touch", "incr"):
    setattr(RedisCache, _name, _timed(_name))


def _get(self, key, default=None, version=None):
    from .metrics import CACHE_GETS, CACHE_OPS

    started = time.perf_counter()
    value = DjangoRedisCache.get(self, key, _MISS, version)
    CACHE_OPS.labels("get").observe(time.perf_counter() - started)
    CACHE_GETS.labels("miss" if value is _MISS else "hit").inc()
    return default if value is _MISS else value


RedisCache.get = _get
