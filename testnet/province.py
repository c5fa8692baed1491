"""The demo consortium: cities of one province and their agencies (see shared SCENARIOS.md).

Heilongjiang's core city Harbin and its regional centres. Each city runs a validator; its Big
Data Center director is the city admin. The provincial Data Audit Office sits in Harbin.
"""

from __future__ import annotations

from dataclasses import dataclass

GRANTOR, GRANTEE, AUDITOR, ALLOCATOR, GATEWAY = 1, 2, 4, 8, 16

PROVINCE = "Heilongjiang"
CITIES = ("Harbin", "Qiqihar", "Mudanjiang", "Jiamusi", "Daqing")
EXTRA_CITIES = ("Suihua", "Hegang", "Shuangyashan", "Jixi", "Yichun", "Heihe")


@dataclass(frozen=True)
class AgencyKind:
    key: str  # short name, used in key file names: "<city>-<key>"
    name: str
    roles: int


CITY_AGENCIES = (
    AgencyKind("bdc", "Big Data Center", GRANTOR | GRANTEE),
    AgencyKind("health", "Health Commission", GRANTEE),
    AgencyKind("police", "Public Security Bureau", GRANTEE),
    AgencyKind("transport", "Transport Bureau", GRANTEE),
    AgencyKind("emergency", "Emergency Management Bureau", ALLOCATOR | GRANTEE),
    # The key of the Big Data Center's data gateway: it records deliveries, nothing else.
    AgencyKind("gateway", "Data Gateway", GATEWAY),
)
AUDIT_OFFICE = AgencyKind("audit", "Provincial Data Audit Office", AUDITOR)
AUDIT_OFFICE_CITY = "Harbin"


def city_names(count: int) -> tuple[str, ...]:
    names = CITIES + EXTRA_CITIES
    if count > len(names):
        return names + tuple(f"City {i}" for i in range(len(names) + 1, count + 1))
    return names[:count]
