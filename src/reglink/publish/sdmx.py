"""Publication tables as SDMX: one structure message (concepts, code lists, a data structure
definition and a dataflow per table) and one SDMX-CSV 2.0 file per table, written with pysdmx.

SDMX is the exchange standard of NSOs and of the UN, Eurostat and IMF data collections; a
table in it loads into their tools without a hand-made mapping. The layout of each table is read
from the warehouse's own columns, so a column added to a table is published without a change
here:

- the period column (`period`, `reference_date`, `year`, `reference_year`) is the time
  dimension TIME_PERIOD (the last dimension, as SDMX requires);
- every other text column is a coded dimension, except the descriptive ones (labels,
  formulas, period bounds: uncoded attributes); `row_order` of the toolkit grids is a dimension;
- every numeric column is a measure (SDMX 3.0 allows several);
- `suppressed` is the attribute CONF_STATUS (C confidential, F free), `status` the attribute
  OBS_STATUS (P provisional, A normal), both with the SDMX cross-domain codes.
Codes: a value's code is itself where SDMX allows it, ALL is `_T` (total) and UNKNOWN `_U`
(SDMX's codes for them), any other character SDMX does not allow in a code becomes `_`
(`+` becomes `_PLUS_`); each code's name is the value as in the CSV and Parquet copies, so a
reader maps codes back through the code list.
Suppressed counts are empty cells, as in the table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from reglink.publish.definitions import column_definition, table_definition

TIME_COLUMNS = ("period", "reference_date", "year", "reference_year")
ATTRIBUTE_COLUMNS = ("period_start", "period_end", "label", "formula", "definition", "source",
                     "notes", "row_label")
KEY_NUMERIC = ("row_order",)  # numeric columns that identify a row rather than count
SPECIAL_IDS = {"suppressed": "CONF_STATUS", "status": "OBS_STATUS"}
SPECIAL_CODES = {"CONF_STATUS": {True: "C", False: "F"},
                 "OBS_STATUS": {"provisional": "P", "final": "A"}}
SPECIAL_NAMES = {"C": "Confidential statistical information", "F": "Free",
                 "P": "Provisional value", "A": "Normal value"}
NUMERIC = ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "DOUBLE", "FLOAT", "DECIMAL")
VERSION = "1.0"
CONCEPT_SCHEME = "CS_MIGRATION"
_NOT_ID = re.compile(r"[^A-Za-z0-9_@$\-]")


def code_id(value: str) -> str:
    """The SDMX code of a dimension value (docstring of the module)."""
    if value == "ALL":
        return "_T"
    if value == "UNKNOWN":
        return "_U"
    return _NOT_ID.sub("_", value.replace("+", "_PLUS_")) or "_Z"


def component_id(column: str) -> str:
    """The SDMX component id of a warehouse column."""
    if column in TIME_COLUMNS:
        return "TIME_PERIOD"
    return SPECIAL_IDS.get(column, column.upper())


@dataclass
class Layout:
    """How one table maps onto SDMX roles (warehouse column names)."""

    table: str  # without pub_
    time: str | None = None
    dims: list[str] = field(default_factory=list)  # coded, in table order
    key_numeric: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)  # uncoded text
    special: list[str] = field(default_factory=list)  # suppressed, status

    @property
    def dsd_id(self) -> str:
        return f"DSD_{self.table.upper()}"

    @property
    def flow_id(self) -> str:
        return f"DF_{self.table.upper()}"


def layout_of(con: duckdb.DuckDBPyConnection, pub_table: str) -> Layout:
    """The SDMX layout of `pub_table`, from its columns and their types."""
    lay = Layout(pub_table.removeprefix("pub_"))
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
                       [pub_table]).fetchall()
    for col, typ in cols:
        if col in TIME_COLUMNS and lay.time is None:
            lay.time = col
        elif col in SPECIAL_IDS:
            lay.special.append(col)
        elif col in KEY_NUMERIC:
            lay.key_numeric.append(col)
        elif col in ATTRIBUTE_COLUMNS or typ == "DATE":
            lay.attributes.append(col)
        elif typ.startswith(NUMERIC):
            lay.measures.append(col)
        else:
            lay.dims.append(col)
    return lay


def sdmx_frame(frame: pl.DataFrame, lay: Layout) -> pl.DataFrame:
    """The table's rows with SDMX component ids and codes (set-based: one replace per column)."""
    out = []
    for c in lay.dims:
        values = frame[c].drop_nulls().unique().to_list()
        out.append(pl.col(c).replace_strict({v: code_id(v) for v in values}, default=None,
                                            return_dtype=pl.Utf8).alias(component_id(c)))
    out += [pl.col(c).cast(pl.Utf8).alias(component_id(c)) for c in lay.key_numeric]
    if lay.time:
        out.append(pl.col(lay.time).cast(pl.Utf8).alias("TIME_PERIOD"))
    out += [pl.col(c).alias(component_id(c)) for c in lay.measures]
    out += [pl.col(c).cast(pl.Utf8).alias(component_id(c)) for c in lay.attributes]
    for c in lay.special:
        cid = component_id(c)
        out.append(pl.col(c).replace_strict(SPECIAL_CODES[cid], default=None,
                                            return_dtype=pl.Utf8).alias(cid))
    return frame.select(out)


def _concept(agency: str, cid: str, column: str):
    from pysdmx.model import Concept

    name, definition = column_definition(column)
    if cid == "TIME_PERIOD":
        name, definition = "Time period", "the period or date the figure refers to"
    return Concept(id=cid, name=name, description=definition,
                   urn=f"urn:sdmx:org.sdmx.infomodel.conceptscheme.Concept="
                       f"{agency}:{CONCEPT_SCHEME}({VERSION}).{cid}")


def _code_description(cid: str, value: str) -> str | None:
    if value == "ALL":
        return "Total"
    if value == "UNKNOWN":
        return "Unknown"
    if cid in ("CITIZENSHIP", "COUNTRY_OF_BIRTH", "COUNTRY") and len(value) == 3:
        import pycountry

        country = pycountry.countries.get(alpha_3=value)
        return country.name if country else None
    return None


def structures(agency: str, layouts: list[Layout], values: dict[str, set],
               doubles: set[str]) -> list:
    """Concept scheme, code lists, one data structure definition and one dataflow per table.
    `values`: component id -> the values its code list holds; `doubles`: measures that are not
    whole numbers."""
    from pysdmx.model import (Code, Codelist, Component, Components, ConceptScheme, DataType,
                              Dataflow, DataStructureDefinition, Role)

    concepts: dict[str, object] = {}
    for lay in layouts:
        for c in ([lay.time] if lay.time else []) + lay.dims + lay.key_numeric + lay.measures \
                + lay.attributes + lay.special:
            cid = component_id(c)
            concepts.setdefault(cid, _concept(agency, cid, c))
    codelists: dict[str, Codelist] = {}
    for cid, vals in sorted(values.items()):
        codes: dict[str, Code] = {}
        for v in sorted(vals, key=str):
            k = SPECIAL_CODES[cid][v] if cid in SPECIAL_CODES else code_id(v)
            name = SPECIAL_NAMES[k] if cid in SPECIAL_CODES else v
            if k in codes and codes[k].name != name:
                raise ValueError(f"{cid}: values {codes[k].name!r} and {name!r} share code {k}")
            codes[k] = Code(id=k, name=name,
                            description=None if cid in SPECIAL_CODES else _code_description(cid, v))
        codelists[cid] = Codelist(id=f"CL_{cid}", agency=agency, version=VERSION,
                                  name=concepts[cid].name, items=list(codes.values()))
    out: list = [ConceptScheme(id=CONCEPT_SCHEME, agency=agency, version=VERSION,
                               name="International migration statistics from registers",
                               items=list(concepts.values()))]
    out += list(codelists.values())
    for lay in layouts:
        comps = []
        for c in lay.dims:
            cid = component_id(c)
            comps.append(Component(id=cid, required=True, role=Role.DIMENSION,
                                   concept=concepts[cid], local_dtype=DataType.STRING,
                                   local_codes=codelists[cid]))
        for c in lay.key_numeric:
            comps.append(Component(id=component_id(c), required=True, role=Role.DIMENSION,
                                   concept=concepts[component_id(c)], local_dtype=DataType.STRING))
        if lay.time:  # SDMX: the time dimension comes after the others
            comps.append(Component(id="TIME_PERIOD", required=True, role=Role.DIMENSION,
                                   concept=concepts["TIME_PERIOD"], local_dtype=DataType.PERIOD))
        for c in lay.measures:
            comps.append(Component(id=component_id(c), required=False, role=Role.MEASURE,
                                   concept=concepts[component_id(c)],
                                   local_dtype=DataType.DOUBLE if c in doubles else DataType.LONG))
        for c in lay.attributes:
            comps.append(Component(id=component_id(c), required=False, role=Role.ATTRIBUTE,
                                   concept=concepts[component_id(c)], local_dtype=DataType.STRING,
                                   attachment_level="O"))
        for c in lay.special:
            cid = component_id(c)
            comps.append(Component(id=cid, required=False, role=Role.ATTRIBUTE,
                                   concept=concepts[cid], local_dtype=DataType.STRING,
                                   local_codes=codelists[cid], attachment_level="O"))
        dsd = DataStructureDefinition(id=lay.dsd_id, agency=agency, version=VERSION,
                                      name=lay.table, description=table_definition(lay.table),
                                      components=Components(comps))
        out += [dsd, Dataflow(id=lay.flow_id, agency=agency, version=VERSION, name=lay.table,
                              description=table_definition(lay.table), structure=dsd)]
    return out


def write_sdmx(con: duckdb.DuckDBPyConnection, folder: Path, pub_tables: list[str],
               agency: str) -> dict[str, Path]:
    """`structure.xml` (SDMX-ML 3.0 structure message) and `<table>.sdmx.csv` (SDMX-CSV 2.0)
    for each pub_ table in `folder`; file name -> path (structure under "structure")."""
    from pysdmx.io import write_sdmx as pysdmx_write
    from pysdmx.io.format import Format
    from pysdmx.io.pd import PandasDataset
    from pysdmx.model import DataStructureDefinition

    layouts = [layout_of(con, t) for t in pub_tables]
    frames: dict[str, pl.DataFrame] = {}
    values: dict[str, set] = {}
    doubles: set[str] = set()
    for t, lay in zip(pub_tables, layouts):
        frame = con.sql(f'SELECT * FROM "{t}"').pl()
        frames[t] = frame
        for c in lay.dims + lay.special:
            values.setdefault(component_id(c), set()).update(frame[c].drop_nulls().unique().to_list())
        doubles.update(c for c in lay.measures if frame.schema[c].is_float())
    objects = structures(agency, layouts, values, doubles)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"structure": folder / "structure.xml"}
    pysdmx_write(objects, Format.STRUCTURE_SDMX_ML_3_0, output_path=str(written["structure"]))
    dsds = {o.id: o for o in objects if isinstance(o, DataStructureDefinition)}
    for t, lay in zip(pub_tables, layouts):
        data = sdmx_frame(frames[t], lay).to_pandas(use_pyarrow_extension_array=True)
        path = folder / f"{lay.table}.sdmx.csv"
        pysdmx_write([PandasDataset(structure=dsds[lay.dsd_id].to_schema(), data=data)],
                     Format.DATA_SDMX_CSV_2_0_0, output_path=str(path))
        written[lay.table] = path
    return written
