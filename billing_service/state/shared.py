"""The shared state store: Redis, for replicas (it must persist: ``appendonly yes``).

Claims are optimistic transactions (WATCH, then MULTI/EXEC): the decision is the same code as
the embedded store's, and a concurrent change of the key makes the loser read again.

Every key the service keeps has a TTL, so a Redis allowed to evict (``maxmemory-policy`` other
than ``noeviction``; ``volatile-*`` picks exactly the keys with a TTL) could drop an idempotency
record or a cancel's checksum and let money move twice. The store is used only once it has read
``noeviction`` from ``INFO memory``, and each ``check`` reads it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script

from .store import (
    AttemptSuperseded,
    Claim,
    Hit,
    IdempotencyRecord,
    Refused,
    StateUnavailable,
    decide_claim,
    held_by,
)

# Short socket timeouts: an unreachable Redis must turn into a fallback or a 503 quickly, not
# stall the request.
_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
_PREFIX = "billing:"
SAFE_POLICY = "noeviction"


class UnsafeRedis(StateUnavailable):
    """The Redis may evict the service's keys, or does not say whether it may."""


class SharedStore:
    """A StateStore in the Redis at ``url``."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock
        self._redis = redis.Redis.from_url(url, **_TIMEOUTS)
        self._hit_all = self.script(__package__, "hit_all.lua")
        self._refund = self.script(__package__, "refund.lua")
        self._unlock = self.script(__package__, "unlock.lua")
        self._policy_read = False  # noeviction was read; until then nothing else is done

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        name = _PREFIX + "counter:" + key

        def run(pipe: Any) -> Any:
            pipe.incrby(name, amount)
            pipe.expire(name, expiry, nx=True)  # the window opens with its first hit
            return pipe.execute()[0]

        return int(self.run(lambda r: run(r.pipeline())))

    def get(self, key: str) -> int:
        value = self.run(lambda r: r.get(_PREFIX + "counter:" + key))
        return int(value) if value is not None else 0

    def get_expiry(self, key: str) -> float:
        ttl_ms = self.run(lambda r: r.pttl(_PREFIX + "counter:" + key))
        now = self._clock()
        return now + ttl_ms / 1000 if ttl_ms > 0 else now

    def clear(self, key: str) -> None:
        self.run(lambda r: r.delete(_PREFIX + "counter:" + key))

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        keys = [_PREFIX + "counter:" + hit.key for hit in hits]
        windows = [n for hit in hits for n in (hit.limit, hit.expiry * 1000, int(hit.counts))]
        full = self.run(lambda _: self._hit_all(keys=keys, args=windows))
        return None if full is None else Refused(hits[int(full[0]) - 1], int(full[1]) / 1000)

    def refund(self, keys: Sequence[str]) -> None:
        names = [_PREFIX + "counter:" + key for key in keys]
        self.run(lambda _: self._refund(keys=names))

    def claim(self, key: str, fingerprint: str, *, lease: float, ttl: float) -> Claim:
        name = _PREFIX + "idempotency:" + key

        def attempt(pipe: Any) -> Claim:
            raw = pipe.get(name)
            existing = IdempotencyRecord.from_json(raw.decode()) if raw else None
            claim, record = decide_claim(
                existing, fingerprint, now=self._clock(), lease=lease, ttl=ttl
            )
            pipe.multi()
            if record is not None:
                pipe.set(name, record.to_json(), pxat=int(record.expires_at * 1000))
            return claim

        transaction: Any = attempt  # redis-py types the callable as returning None
        claim: Claim = self.run(
            lambda r: r.transaction(transaction, name, value_from_callable=True)
        )
        return claim

    def has_record(self, key: str) -> bool:
        return bool(self.run(lambda r: r.exists(_PREFIX + "idempotency:" + key)))

    def save(self, key: str, record: IdempotencyRecord) -> None:
        self._if_held(
            key,
            record.attempt,
            lambda pipe, name: pipe.set(name, record.to_json(), pxat=int(record.expires_at * 1000)),
        )

    def release(self, key: str, attempt: str) -> None:
        self._if_held(key, attempt, lambda pipe, name: pipe.delete(name))

    def _if_held(self, key: str, attempt: str, write: Callable[[Any, str], Any]) -> None:
        """Run ``write`` in one transaction with the check that ``attempt`` holds the record."""
        name = _PREFIX + "idempotency:" + key

        def run(pipe: Any) -> bool:
            raw = pipe.get(name)
            existing = IdempotencyRecord.from_json(raw.decode()) if raw else None
            if not held_by(existing, attempt, now=self._clock()):
                return False
            pipe.multi()
            write(pipe, name)
            return True

        transaction: Any = run  # redis-py types the callable as returning None
        if not self.run(lambda r: r.transaction(transaction, name, value_from_callable=True)):
            raise AttemptSuperseded("Another attempt holds the idempotency record now.")

    def lock(self, key: str, owner: str, lease: float) -> float | None:
        name = _PREFIX + "lock:" + key
        if self.run(lambda r: r.set(name, owner, nx=True, px=int(lease * 1000))):
            return None
        ttl_ms: int = self.run(lambda r: r.pttl(name))
        # Freed meanwhile (ttl_ms < 0): busy all the same; the caller's retry takes it.
        return self._clock() + max(ttl_ms, 0) / 1000

    def unlock(self, key: str, owner: str) -> None:
        self.run(lambda _: self._unlock(keys=[_PREFIX + "lock:" + key], args=[owner]))

    def mark_pending(self, key: str, ttl: float) -> None:
        self.run(lambda r: r.set(_PREFIX + "pending:" + key, 1, px=int(ttl * 1000)))

    def is_pending(self, key: str) -> bool:
        return bool(self.run(lambda r: r.exists(_PREFIX + "pending:" + key)))

    def clear_pending(self, key: str) -> None:
        self.run(lambda r: r.delete(_PREFIX + "pending:" + key))

    def put_name(self, key: str, value: str, ttl: float | None = None) -> None:
        px = None if ttl is None else int(ttl * 1000)
        self.run(lambda r: r.set(_PREFIX + "name:" + key, value, px=px))

    def get_name(self, key: str) -> str | None:
        value = self.run(lambda r: r.get(_PREFIX + "name:" + key))
        return None if value is None else value.decode()

    def drop_name(self, key: str, value: str) -> None:
        # The same compare-and-delete as a lock's owner freeing it.
        self.run(lambda _: self._unlock(keys=[_PREFIX + "name:" + key], args=[value]))

    def check(self) -> None:
        """Return if Redis answers and may not evict; UnsafeRedis, StateUnavailable otherwise."""
        self._policy_read = False
        self.run(lambda r: r.ping())

    def close(self) -> None:
        self._redis.close()

    def verify(self) -> str | None:
        """Read the eviction policy now (UnsafeRedis, StateUnavailable as ``check``); a warning
        if Redis keeps nothing on disk that survives its restart (None: it does)."""
        self.check()
        warning: str | None = self.run(_persistence_warning)
        return warning

    # what the keys kept in the same Redis by others (the outbox) use

    def script(self, package: str, name: str) -> Script:
        """The Lua script ``lua/<name>`` shipped with ``package``, to run on this store's
        client: one atomic step (run it inside ``run``)."""
        source = (files(package) / "lua" / name).read_text(encoding="utf-8")
        return self._redis.register_script(source)

    def run(self, operation: Callable[[redis.Redis], Any]) -> Any:
        """``operation`` on this store's client, once the eviction policy was read; every Redis
        error StateUnavailable."""
        try:
            if not self._policy_read:
                _read_policy(self._redis)
                self._policy_read = True
            return operation(self._redis)
        except redis.RedisError as exc:
            raise StateUnavailable("The shared state store (Redis) cannot be reached.") from exc


def _read_policy(client: redis.Redis) -> None:
    """Raise UnsafeRedis unless ``INFO memory`` says ``maxmemory-policy noeviction``.

    ``INFO``, not ``CONFIG GET``: managed Redis (ElastiCache, Memorystore, Azure Cache) refuses
    CONFIG to its users but answers INFO.
    """
    try:
        info = client.info("memory")
    except redis.ResponseError as exc:  # NOPERM, or a renamed INFO
        raise UnsafeRedis(
            "The Redis of BILLING_STATE_URL refuses INFO to this user, so its eviction policy "
            "cannot be checked: allow the INFO command (ACL: +info)."
        ) from exc
    policy = info.get("maxmemory_policy")
    if policy is None:
        raise UnsafeRedis(
            "The Redis of BILLING_STATE_URL does not report maxmemory_policy in INFO memory: "
            f"use a Redis that does, set to {SAFE_POLICY}."
        )
    if policy != SAFE_POLICY:
        raise UnsafeRedis(
            f"The Redis of BILLING_STATE_URL may evict keys (maxmemory-policy {policy}): "
            f"set maxmemory-policy {SAFE_POLICY} (on managed Redis, in its parameter group or "
            "configuration), or idempotency records could vanish and money move twice."
        )


def _persistence_warning(client: redis.Redis) -> str | None:
    if client.info("persistence").get("aof_enabled") == 1:
        return None
    try:
        snapshots = client.config_get("save").get("save")
    except redis.ResponseError:  # managed Redis: CONFIG is refused, snapshots unknown
        snapshots = None
    kept = "nothing" if snapshots == "" else "at best the last RDB snapshot"
    return (
        f"The Redis of BILLING_STATE_URL runs without AOF (appendonly no): a restart of it keeps "
        f"{kept}, and idempotency records, pending charges and events written since are lost. "
        "Set appendonly yes."
    )
