"""The registers reglink knows (docs/reference.md#register-extracts) — the one place they are declared.

Each register is one `Register`: its canonical columns (`SourceSchema`), its title and Annex 1
row in the quality report, the dates its events carry, the code lists that describe its
coverage, its rank when registers disagree on a person's attributes, its completeness floors,
the share of its records expected to link to each other register, and how the synthesiser
names and orders its records. Every stage (ingest, validation suites, linkage, tables, quality
report, Dagster assets, command-line help, synthetic generator) reads them from here, so adding
a register is one declaration plus the mapping of its extract's columns.

A register outside the four built in is declared in a Python file that defines `REGISTER`
(a `Register`); `REGLINK_REGISTERS` names such files (separated like PATH) and they are loaded
when this module is first imported, before any stage reads the list.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SourceName = Literal["border_crossings", "permits", "population_register", "asylum_register"]

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



@dataclass(frozen=True, eq=False)
class Register:
    """Everything the stages need to know about one register, declared once."""

    schema: SourceSchema
    title: str  # heading of its page in the quality report
    annex1_row: str  # its row in the toolkit's Annex 1 (register inventory)
    # the dates its events carry (timeliness, the latest event date of a run)
    event_dates: tuple[str, ...] = ()
    # code columns that describe who it covers, beyond the citizenship / birthplace split
    coverage_codes: tuple[str, ...] = ()
    # rank when registers disagree on a person's sex, birth or citizenship (1 = trusted most)
    precedence: int = 99
    record_date: str | None = None  # the date that makes one of a person's records "recent"
    # minimum share of rows with a value, per column, below which an extract gets a warning
    completeness: Mapping[str, float] = field(default_factory=dict)
    # fields that apply to some records only: column -> (SQL predicate, who they apply to)
    applicable_when: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # expected linkage: minimum share of its records whose person is also in that register
    link_minimums: Mapping[str, float] = field(default_factory=dict)
    # its own number for a person, where it keeps one (the population register's person
    # number): two records under one number are one person's, two numbers of one register
    # are evidence of two persons (a register holds its own duplicates, so not a veto)
    own_number: str | None = None
    # the dates a registration under that number starts and ends (open: still registered):
    # two numbers registered at once at two addresses cannot be one person (linkage)
    registration_dates: tuple[str, str] | None = None
    # synthetic generator: record-id prefix and the column its records are ordered by
    synth_prefix: str | None = None
    synth_sort: str | None = None

    @property
    def name(self) -> str:
        return self.schema.name


# Minimum shares of completeness: for the border register the toolkit's Annex 2 topics (UN
# toolkit 2021), for the others the core linkage fields. Linkage minimums are calibrated on the
# synthetic world (docs/operations.md); a linkage that silently stops linking falls below them.
# Most permits and register records link through the border register (every permit holder
# crosses it), far fewer to each other (visitor visas, natives). Attribute precedence: the
# population register is the best maintained source of personal data for residents (UN toolkit
# 2021, 6.17 B), permits are checked by an office at issue, asylum files next, and border
# records are self-declared at a counter.
BUILT_IN: tuple[Register, ...] = (
    Register(
        BORDER_CROSSINGS, "Border control register", "A",
        event_dates=("crossing_date",),
        coverage_codes=("direction", "travel_reason", "transport_mode"),
        precedence=4, record_date="crossing_date",
        completeness={
            "sex": 0.95, "date_of_birth": 0.95, "country_of_birth": 0.5, "given_names": 0.95,
            "surname": 0.95, "citizenship": 0.95, "country_of_residence": 0.5,
            "document_type": 0.8, "document_number": 0.9, "document_country": 0.8,
            "origin_destination": 0.5, "travel_reason": 0.3, "occupation": 0.1,
            "transport_mode": 0.5, "border_point": 0.5,
        },
        link_minimums={"permits": 0.02, "population_register": 0.02, "asylum_register": 0.0},
        synth_prefix="BC", synth_sort="crossing_date",
    ),
    Register(
        PERMITS, "Residence and work permits", "F / H / I",
        event_dates=("issue_date", "valid_from"),
        coverage_codes=("permit_kind", "purpose"),
        precedence=2, record_date="valid_from",
        completeness={"sex": 0.95, "date_of_birth": 0.95, "given_names": 0.95, "surname": 0.95,
                      "citizenship": 0.95, "country_of_birth": 0.5, "valid_to": 0.5,
                      "document_number": 0.5},
        link_minimums={"border_crossings": 0.30, "population_register": 0.05,
                       "asylum_register": 0.0},
        synth_prefix="PM", synth_sort="issue_date",
    ),
    Register(
        POPULATION_REGISTER, "Population register", "B",
        event_dates=("registration_date", "deregistration_date"),
        coverage_codes=("registration_reason", "deregistration_reason"),
        precedence=1, record_date="registration_date",
        completeness={"sex": 0.98, "date_of_birth": 0.98, "given_names": 0.98,
                      "surname": 0.98, "country_of_birth": 0.9, "citizenship": 0.9,
                      "registration_date": 0.9},
        applicable_when={
            "previous_country": ("registration_reason = 'IMMIGRATION'",
                                 "registered as immigrants"),
            "deregistration_date": ("deregistration_reason IS NOT NULL",
                                    "with a de-registration reason"),
            "deregistration_reason": ("deregistration_date IS NOT NULL",
                                      "with a de-registration date"),
            "next_country": ("deregistration_reason = 'EMIGRATION'", "de-registered as emigrants"),
            "naturalisation_date": ("citizenship = '{home}' AND country_of_birth <> '{home}'",
                                    "foreign-born citizens"),
        },
        link_minimums={"border_crossings": 0.30, "permits": 0.02, "asylum_register": 0.0},
        own_number="person_number",
        registration_dates=("registration_date", "deregistration_date"),
        synth_prefix="PR", synth_sort="registration_date",
    ),
    Register(
        ASYLUM_REGISTER, "Asylum register", "D",
        event_dates=("application_date", "decision_date"),
        coverage_codes=("decision",),
        precedence=3, record_date="application_date",
        completeness={"sex": 0.95, "date_of_birth": 0.8, "given_names": 0.95,
                      "surname": 0.95, "citizenship": 0.9, "decision": 0.5},
        applicable_when={"decision_date": ("decision IS NOT NULL AND decision <> 'PENDING'",
                                           "with a decision")},
        link_minimums={"border_crossings": 0.10, "population_register": 0.05, "permits": 0.05},
        synth_prefix="AS", synth_sort="application_date",
    ),
)


def _declared_elsewhere() -> list[Register]:
    """The registers declared in the files named by REGLINK_REGISTERS (each defines REGISTER)."""
    out = []
    for i, entry in enumerate(p for p in os.environ.get("REGLINK_REGISTERS", "").split(os.pathsep)
                              if p.strip()):
        path = Path(entry).expanduser()
        spec = importlib.util.spec_from_file_location(f"reglink_register_{i}_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ValueError(f"REGLINK_REGISTERS: {path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        reg = getattr(module, "REGISTER", None)
        if not isinstance(reg, Register):
            raise ValueError(f"REGLINK_REGISTERS: {path}: defines no REGISTER (a schemas.Register)")
        out.append(reg)
    return out


REGISTERS: dict[str, Register] = {r.name: r for r in (*BUILT_IN, *_declared_elsewhere())}
SOURCES: tuple[str, ...] = tuple(REGISTERS)
SCHEMAS: dict[str, SourceSchema] = {n: r.schema for n, r in REGISTERS.items()}

# Every column name that is a direct identifier in any register. No warehouse table may carry
# one of these (tests scan for them); they live only in the restricted store.
DIRECT_IDENTIFIERS: frozenset[str] = frozenset(
    c.name for s in SCHEMAS.values() for c in s.columns if c.identifier
)


def register(source: str) -> Register:
    """The declaration of a register, or a ValueError naming the valid ones."""
    try:
        return REGISTERS[source]
    except KeyError:
        raise ValueError(
            f"unknown source {source!r}: expected one of {', '.join(SOURCES)}"
        ) from None


def schema(source: str) -> SourceSchema:
    """The canonical schema of a register, or a ValueError naming the valid sources."""
    try:
        return SCHEMAS[source]
    except KeyError:
        raise ValueError(
            f"unknown source {source!r}: expected one of {', '.join(SOURCES)}"
        ) from None
