"""Country values → ISO 3166-1 alpha-3 (names, alpha-2, numeric codes, common variants).

Registers write countries in every way imaginable: `NZ`, `554`, `New Zealand`, `Viet Nam`,
`Vietnam`, `UK`. The lookup is built once from pycountry (a maintained copy of ISO 3166) plus a
short list of common variants and the ICAO 9303 travel-document codes, and applied to the
*distinct* values of a column only (countries have a few hundred distinct values even in a
multi-million-row extract), then joined back — no Python call per row.
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl
import pycountry
from unidecode import unidecode

# ICAO Doc 9303 codes seen in passports and border systems, accepted as valid values.
ICAO_EXTRA: dict[str, str] = {
    "XXA": "stateless person",
    "XXB": "refugee (1951 Convention)",
    "XXC": "refugee (other)",
    "XXX": "unspecified nationality",
    "XKX": "Kosovo (used by the EU and ICAO pending an ISO code)",
}

# Common variants that pycountry's name / official_name / common_name do not cover.
VARIANTS: dict[str, str] = {
    "UK": "GBR", "GREAT BRITAIN": "GBR", "BRITAIN": "GBR", "ENGLAND": "GBR", "SCOTLAND": "GBR",
    "WALES": "GBR", "NORTHERN IRELAND": "GBR", "UNITED KINGDOM OF GREAT BRITAIN": "GBR",
    "USA": "USA", "US": "USA", "UNITED STATES OF AMERICA": "USA", "AMERICA": "USA",
    "RUSSIA": "RUS", "SOUTH KOREA": "KOR", "KOREA": "KOR", "REPUBLIC OF KOREA": "KOR",
    "KOREA SOUTH": "KOR", "NORTH KOREA": "PRK", "KOREA NORTH": "PRK", "VIETNAM": "VNM",
    "IRAN": "IRN", "SYRIA": "SYR", "BOLIVIA": "BOL", "VENEZUELA": "VEN", "TANZANIA": "TZA",
    "CZECH REPUBLIC": "CZE", "IVORY COAST": "CIV", "COTE DIVOIRE": "CIV", "HOLLAND": "NLD",
    "THE NETHERLANDS": "NLD", "BURMA": "MMR", "LAOS": "LAO", "MOLDOVA": "MDA",
    "MACEDONIA": "MKD", "TURKEY": "TUR", "TURKIYE": "TUR", "SWAZILAND": "SWZ",
    "CAPE VERDE": "CPV", "EAST TIMOR": "TLS", "VATICAN": "VAT", "VATICAN CITY": "VAT",
    "HOLY SEE": "VAT", "PALESTINE": "PSE", "KOSOVO": "XKX", "TAIWAN": "TWN",
    "BRUNEI": "BRN", "MICRONESIA": "FSM", "DR CONGO": "COD", "DRC": "COD",
    "DEMOCRATIC REPUBLIC OF CONGO": "COD", "CONGO KINSHASA": "COD",
    "REPUBLIC OF CONGO": "COG", "CONGO BRAZZAVILLE": "COG", "UAE": "ARE",
    "EMIRATES": "ARE", "SAINT KITTS": "KNA", "ST KITTS AND NEVIS": "KNA",
    "ST LUCIA": "LCA", "ST VINCENT AND THE GRENADINES": "VCT", "HONG KONG": "HKG",
    "MACAU": "MAC", "MACAO": "MAC", "NZ": "NZL", "AOTEAROA": "NZL",
    "STATELESS": "XXA", "UNKNOWN": "XXX",
    "D": "DEU",  # ICAO 9303: Germany's code in machine-readable passports
}

_KEY_RE = re.compile(r"[^A-Z0-9 ]+")
_SPACE_RE = re.compile(r"\s+")


def country_key(value: str) -> str:
    """The comparison key of a country spelling: Latin, upper case, no punctuation."""
    s = unidecode(value).upper().replace("&", " AND ")
    s = _KEY_RE.sub(" ", s.replace("'", ""))
    return _SPACE_RE.sub(" ", s).strip()


@lru_cache(maxsize=1)
def lookup() -> dict[str, str]:
    """key → alpha-3 for every spelling reglink understands (built once, cached)."""
    table: dict[str, str] = {}
    for c in pycountry.countries:
        a3 = c.alpha_3
        for v in (c.alpha_3, c.alpha_2, c.numeric, str(int(c.numeric)), c.name,
                  getattr(c, "official_name", None), getattr(c, "common_name", None)):
            if v:
                table.setdefault(country_key(v), a3)
        # "Korea, Republic of" → also "Republic of Korea"
        if "," in c.name:
            head, tail = (p.strip() for p in c.name.split(",", 1))
            table.setdefault(country_key(f"{tail} {head}"), a3)
            table.setdefault(country_key(head), a3)
    for c in pycountry.historic_countries:
        if getattr(c, "alpha_3", None) and len(c.alpha_3) == 3:
            # Withdrawn codes (e.g. ANT, SCG) stay understood; they map to themselves.
            table.setdefault(country_key(c.alpha_3), c.alpha_3)
    for code in ICAO_EXTRA:
        table.setdefault(code, code)
    for k, v in VARIANTS.items():
        table[country_key(k)] = v
    return table


def valid_alpha3() -> frozenset[str]:
    """Every code accepted in a standardised country column."""
    return frozenset(lookup().values())


def to_alpha3(values: pl.Series, extra: dict[str, str] | None = None) -> pl.Series:
    """Map a string Series to alpha-3; unrecognised non-empty values become null.

    `extra` (from a source mapping) maps a register's own spellings, e.g. French names.
    Works on the distinct values, then joins back (set-based, not per row).
    """
    table = lookup()
    extra_keys = {country_key(k): v.upper() for k, v in (extra or {}).items()}
    uniq = values.drop_nulls().unique()
    keys = [country_key(v) for v in uniq.to_list()]
    mapped = [extra_keys.get(k) or table.get(k) for k in keys]
    # Numeric codes written without leading zeros or with them ("36", "036").
    mapped = [m if m is not None or not k.isdigit() else table.get(str(int(k)))
              for k, m in zip(keys, mapped)]
    if len(uniq) == 0:
        return pl.Series(values.name, [None] * len(values), dtype=pl.String)
    return values.replace_strict(uniq, pl.Series(mapped, dtype=pl.String), default=None,
                                 return_dtype=pl.String)
