"""Canonical extract schemas (docs/reference.md#register-extracts) — the one place they are defined.

Every other module (ingest, validation suites, synthetic generator, linkage, reports) reads
column names, required flags, code lists and the restricted-identifier set from here, so a
change to the contract is a change to this file only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SourceName = Literal["border_crossings", "permits", "population_register", "asylum_register"]
SOURCES: tuple[str, ...] = ("border_crossings", "permits", "population_register", "asylum_register")

Kind = Literal["text", "date", "code", "country", "isco"]


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind, whether required, and its code list if any."""

    name: str
    kind: Kind = "text"
    required: bool = False
    codes: tuple[str, ...] = ()
    annex2: str | None = None  # toolkit Annex 2 topic letter (border register only)
    identifier: bool = False  # a direct identifier: stays in the restricted layer


SEX = ("M", "F", "X")
DIRECTION = ("ENTRY", "EXIT")
DOCUMENT_TYPE = ("PASSPORT", "ID_CARD", "TRAVEL_DOCUMENT", "OTHER")
TRAVEL_REASON = (
    "HOLIDAY", "BUSINESS", "WORK", "STUDY", "FAMILY", "HEALTH", "ASYLUM", "TRANSIT",
    "RETURN_HOME", "SETTLE", "OTHER",
)
TRANSPORT_MODE = ("AIR", "SEA", "LAND", "RAIL")
PERMIT_KIND = ("RESIDENCE", "WORK", "STUDY", "VISA", "OTHER")
PERMIT_PURPOSE = ("WORK", "STUDY", "FAMILY", "HUMANITARIAN", "OTHER")
REGISTRATION_REASON = ("BIRTH", "IMMIGRATION", "OTHER")
DEREGISTRATION_REASON = ("DEATH", "EMIGRATION", "OTHER")
ASYLUM_DECISION = ("PENDING", "REFUGEE", "SUBSIDIARY", "REJECTED", "WITHDRAWN")


def _person(extra_ids: tuple[Column, ...] = ()) -> tuple[Column, ...]:
    """The identifying person fields that most registers carry."""
    return (
        Column("given_names", "text", identifier=True),
        Column("surname", "text", identifier=True),
        Column("sex", "code", codes=SEX),
        Column("date_of_birth", "date", identifier=True),
        Column("country_of_birth", "country"),
        Column("citizenship", "country"),
        *extra_ids,
    )


@dataclass(frozen=True)
class SourceSchema:
    name: str
    columns: tuple[Column, ...]
    # pairs (earlier, later) of date columns that must be in order when both are present
    date_order: tuple[tuple[str, str], ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def identifiers(self) -> list[str]:
        return [c.name for c in self.columns if c.identifier]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


BORDER_CROSSINGS = SourceSchema(
    "border_crossings",
    (
        Column("record_id", "text", required=True),
        Column("direction", "code", required=True, codes=DIRECTION, annex2="A"),
        Column("crossing_date", "date", required=True, annex2="B"),
        Column("sex", "code", codes=SEX, annex2="C"),
        Column("date_of_birth", "date", annex2="D", identifier=True),
        Column("country_of_birth", "country", annex2="E"),
        Column("given_names", "text", annex2="F", identifier=True),
        Column("surname", "text", annex2="F", identifier=True),
        Column("citizenship", "country", annex2="G"),
        Column("country_of_residence", "country", annex2="H"),
        Column("document_type", "code", codes=DOCUMENT_TYPE, annex2="I"),
        Column("document_number", "text", annex2="J", identifier=True),
        Column("document_country", "country", annex2="I"),
        Column("origin_destination", "country", annex2="K"),
        Column("travel_reason", "code", codes=TRAVEL_REASON, annex2="L"),
        Column("occupation", "isco", annex2="M"),
        Column("transport_mode", "code", codes=TRANSPORT_MODE, annex2="N"),
        Column("border_point", "text", annex2="O"),
    ),
    date_order=(("date_of_birth", "crossing_date"),),
)

PERMITS = SourceSchema(
    "permits",
    (
        Column("record_id", "text", required=True),
        Column("permit_number", "text", identifier=True),
        Column("permit_kind", "code", required=True, codes=PERMIT_KIND),
        Column("purpose", "code", codes=PERMIT_PURPOSE),
        Column("issue_date", "date"),
        Column("valid_from", "date", required=True),
        Column("valid_to", "date"),
        *_person(),
        Column("document_number", "text", identifier=True),
        Column("document_country", "country"),
        Column("address", "text", identifier=True),
        Column("locality", "text"),
        Column("postcode", "text"),
    ),
    date_order=(("valid_from", "valid_to"), ("date_of_birth", "valid_from"),
                ("date_of_birth", "issue_date")),
)

POPULATION_REGISTER = SourceSchema(
    "population_register",
    (
        Column("record_id", "text", required=True),
        Column("person_number", "text", required=True, identifier=True),
        *_person(),
        Column("registration_date", "date"),
        Column("registration_reason", "code", codes=REGISTRATION_REASON),
        Column("previous_country", "country"),
        Column("deregistration_date", "date"),
        Column("deregistration_reason", "code", codes=DEREGISTRATION_REASON),
        Column("next_country", "country"),
        Column("naturalisation_date", "date"),
        Column("region", "text"),
        Column("address", "text", identifier=True),
        Column("locality", "text"),
        Column("postcode", "text"),
        # Optional additions to the contract (docs/tables.md, toolkit table 3.4): the register's
        # own numbers of a person's mother and father, as registers record them at a birth.
        # Identifiers like person_number: resolved to person keys, never copied to the warehouse.
        Column("mother_person_number", "text", identifier=True),
        Column("father_person_number", "text", identifier=True),
    ),
    date_order=(("registration_date", "deregistration_date"),
                ("date_of_birth", "registration_date"),
                ("date_of_birth", "naturalisation_date")),
)

ASYLUM_REGISTER = SourceSchema(
    "asylum_register",
    (
        Column("record_id", "text", required=True),
        Column("case_number", "text", required=True, identifier=True),
        *_person(),
        Column("document_number", "text", identifier=True),
        Column("application_date", "date", required=True),
        Column("decision", "code", codes=ASYLUM_DECISION),
        Column("decision_date", "date"),
    ),
    date_order=(("application_date", "decision_date"), ("date_of_birth", "application_date")),
)

SCHEMAS: dict[str, SourceSchema] = {
    s.name: s for s in (BORDER_CROSSINGS, PERMITS, POPULATION_REGISTER, ASYLUM_REGISTER)
}

# Every column name that is a direct identifier in any register. No warehouse table may carry
# one of these (tests scan for them); they live only in the restricted store.
DIRECT_IDENTIFIERS: frozenset[str] = frozenset(
    c.name for s in SCHEMAS.values() for c in s.columns if c.identifier
)


def schema(source: str) -> SourceSchema:
    """The canonical schema of a register, or a ValueError naming the valid sources."""
    try:
        return SCHEMAS[source]
    except KeyError:
        raise ValueError(
            f"unknown source {source!r}: expected one of {', '.join(SOURCES)}"
        ) from None
