"""V2's card issuers in V1's words: one table from PortOne V2's ``Card.issuer`` codes to the
card company names and codes I'mport V1 reports (``card_name``, ``card_code``), so a caller reads
the same values whichever provider answers.

V1's codes are 금융결제원's three-digit card company codes (and three letters for foreign
brands), as I'mport's own Java client lists them (``CardConstant``); V2's issuer names are its
``CardCompany`` enum. An issuer V1 has no code for is unknown here: the card's product name is
passed on instead (``Card.name``) and its code is null.
"""

from __future__ import annotations

# V2 issuer → (V1 card_name, V1 card_code)
ISSUERS: dict[str, tuple[str, str]] = {
    "BC_CARD": ("BC카드", "361"),
    "GWANGJU_CARD": ("광주카드", "364"),
    "SAMSUNG_CARD": ("삼성카드", "365"),
    "SHINHAN_CARD": ("신한카드", "366"),
    "HYUNDAI_CARD": ("현대카드", "367"),
    "LOTTE_CARD": ("롯데카드", "368"),
    "SUHYUP_CARD": ("수협카드", "369"),
    "CITI_CARD": ("씨티카드", "370"),
    "NH_CARD": ("NH카드", "371"),
    "JEONBUK_CARD": ("전북카드", "372"),
    "JEJU_CARD": ("제주카드", "373"),
    "HANA_CARD": ("하나카드", "374"),
    "KOOKMIN_CARD": ("KB국민카드", "381"),
    "WOORI_CARD": ("우리카드", "041"),
    "EPOST": ("우체국", "071"),
    "VISA_CARD": ("해외비자", "VIS"),
    "MASTER_CARD": ("해외마스터", "MAS"),
    "DINERS_CARD": ("해외다이너스", "DIN"),
    "AMEX_CARD": ("해외AMEX", "AMX"),
    "JCB_CARD": ("해외JCB", "JCB"),
    "UNION_CARD": ("중국은련", "UNI"),
}


def card_company(issuer: str | None, product_name: str | None) -> tuple[str | None, str | None]:
    """(card_name, card_code) of a V2 card: V1's for a known issuer, else the product name and
    no code."""
    if issuer is not None and issuer in ISSUERS:
        return ISSUERS[issuer]
    return product_name, None
