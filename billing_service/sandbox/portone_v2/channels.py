"""The sandbox merchant: its store, and the channels (PG contracts) its billing keys and
charges go through. Test-ness is a property of a channel (`type` TEST or LIVE)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_STORE_ID = "store-00000000-0000-0000-0000-000000000000"
MERCHANT_ID = "merchant-00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Channel:
    """A channel as PortOne's `SelectedChannel` shows it."""

    key: str
    id: str
    name: str
    pg_provider: str  # PortOne's PgProvider: NICE_V2, KCP_V2, INICIS_V2...
    pg_merchant_id: str
    type: str = "TEST"

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "pgProvider": self.pg_provider,
            "pgMerchantId": self.pg_merchant_id,
        }


def _channel(n: int, name: str, provider: str, mid: str, kind: str = "TEST") -> Channel:
    suffix = f"00000000-0000-0000-0000-{n:012d}"
    return Channel(f"channel-key-{suffix}", f"channel-id-{suffix}", name, provider, mid, kind)


# Every channel key the sandbox knows, by a short name; the MIDs are the PGs' public test MIDs
# where one exists (as in the I'mport sandbox).
CHANNELS: dict[str, Channel] = {
    "nice_v2": _channel(0, "나이스페이먼츠 테스트", "NICE_V2", "nictest04m"),
    "kcp_v2": _channel(1, "KCP 테스트", "KCP_V2", "T0000"),
    "inicis_v2": _channel(2, "KG이니시스 테스트", "INICIS_V2", "INIBillTst"),
    "tosspayments": _channel(3, "토스페이먼츠 테스트", "TOSSPAYMENTS", "tosstest"),
    "ksnet": _channel(4, "KSNET 테스트", "KSNET", "sandbox_ksnet"),
    "welcome": _channel(5, "웰컴페이먼츠 테스트", "WELCOME", "sandbox_welcome"),
    # A live channel: payments through it are not test payments (`type` LIVE).
    "live": _channel(99, "나이스페이먼츠 실연동", "NICE_V2", "sandbox_live", "LIVE"),
}
DEFAULT_CHANNEL_KEY = CHANNELS["nice_v2"].key
CHANNEL_KEYS: dict[str, str] = {name: channel.key for name, channel in CHANNELS.items()}
_BY_KEY: dict[str, Channel] = {channel.key: channel for channel in CHANNELS.values()}


def channel_by_key(key: str) -> Channel | None:
    """The channel of a channel key, or None (404 CHANNEL_NOT_FOUND)."""
    return _BY_KEY.get(key)
