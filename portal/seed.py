"""Reference data: Hanoi's agencies and Front committees. Running it again changes nothing.

The city's departments come from `data/city_agencies.json`; the 126 communes and
wards of Hanoi after the 1 July 2025 reform come from the maintained
`vietnam-provinces` package, so a correction there reaches the portal on upgrade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from vietnam_provinces import ProvinceCode, Ward

from moderation.routing import CITY_COMMITTEE_CODE
from portal.models import Agency, FrontCommittee
from portal.vocab import AgencyKind

DATA = Path(__file__).parent / "data" / "city_agencies.json"
HANOI = ProvinceCode.P_01


@dataclass(frozen=True)
class Commune:
    code: int
    name: str  # "Phường Hoàn Kiếm", "Xã Sóc Sơn"


@cache
def hanoi_communes() -> tuple[Commune, ...]:
    """Fixed for the life of the process: the list comes with the installed package."""
    return tuple(sorted((Commune(int(w.code), w.name) for w in Ward.iter_by_province(HANOI)),
                        key=lambda c: c.code))


@cache
def hanoi_commune_codes() -> frozenset[int]:
    return frozenset(c.code for c in hanoi_communes())


def commune_agency_code(ward_code: int) -> str:
    return f"UBND-{ward_code:05d}"


def commune_committee_code(ward_code: int) -> str:
    return f"MTTQ-{ward_code:05d}"


def _upsert(session: Session, existing: dict, model, code: str, **values):
    row = existing.get(code)
    if row is None:
        row = existing[code] = model(code=code, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    return row


def seed_agencies(session: Session) -> dict[str, int]:
    """Create or update the agencies and committees; returns how many of each exist."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    # Two reads in all, not one per row: the command runs at every `make run`.
    agencies = {row.code: row for row in session.scalars(select(Agency))}
    committees = {row.code: row for row in session.scalars(select(FrontCommittee))}
    city = data["city_committee"]
    city_agency = _upsert(session, agencies, Agency, city["code"], name=city["name"],
                          name_en=city["name_en"], kind=AgencyKind.CITY_COMMITTEE,
                          ward_code=None, parent=None)
    for item in data["agencies"]:
        _upsert(session, agencies, Agency, item["code"], name=item["name"],
                name_en=item["name_en"], kind=item["kind"], ward_code=None, parent=city_agency)
    city_front = _upsert(session, committees, FrontCommittee, CITY_COMMITTEE_CODE,
                         name="Ủy ban MTTQ Việt Nam Thành phố Hà Nội", ward_code=None,
                         parent=None)
    communes = hanoi_communes()
    for commune in communes:
        _upsert(session, agencies, Agency, commune_agency_code(commune.code),
                name=f"UBND {commune.name}", name_en=f"People's Committee of {commune.name}",
                kind=AgencyKind.COMMUNE_COMMITTEE, ward_code=commune.code, parent=city_agency)
        _upsert(session, committees, FrontCommittee, commune_committee_code(commune.code),
                name=f"Ủy ban MTTQ Việt Nam {commune.name}", ward_code=commune.code,
                parent=city_front)
    session.flush()
    return {"agencies": 1 + len(data["agencies"]) + len(communes),
            "front_committees": 1 + len(communes), "communes": len(communes)}
