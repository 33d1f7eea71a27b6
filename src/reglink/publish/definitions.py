"""What each published table and column means: the text of the metadata file and the names
and descriptions of the SDMX concepts (one source for both, so they cannot disagree).

The full data dictionary is docs/tables.md; these are the short forms a file that leaves the
office carries with it.
"""
from __future__ import annotations

TABLES: dict[str, str] = {
    "flows": "Immigrations and emigrations (and the returning citizens and native-born among the "
             "immigrations) by month, quarter and year and by breakdown cell: distinct persons "
             "with such a migration in the period and cell, with the provisional estimate and "
             "its 95 % interval for periods not yet final.",
    "stocks": "Resident, immigrant, emigrant, returned, temporary and present populations on "
              "each reference date, by breakdown cell.",
    "temporary_mobility": "Stays of non-residents in the country and trips abroad of residents "
                          "that do not change residence, by year, duration band, purpose and "
                          "breakdown cell; cross-border, seasonal and circular movers.",
    "asylum_flows": "Asylum applications, entries declaring asylum, decisions and departures "
                    "by year, decision, citizenship and sex.",
    "accounting": "Demographic accounting per year and subpopulation: stock at the start + "
                  "immigration - emigration + births - deaths + citizenship acquired - "
                  "citizenship lost + residual = stock at the end.",
    "toolkit_table_3_1": "UN toolkit table 3.1: resident population on 31 December of the "
                         "reference year by country of birth and citizenship (cells A-J, T, U).",
    "toolkit_table_3_2": "UN toolkit table 3.2: immigrants in the reference year by country of "
                         "birth and citizenship.",
    "toolkit_table_3_3": "UN toolkit table 3.3: emigrants in the reference year by country of "
                         "birth and citizenship.",
    "toolkit_table_3_4": "UN toolkit table 3.4: live births in the reference year by country of "
                         "birth and citizenship of the parents.",
    "toolkit_table_3_5": "UN toolkit table 3.5: deaths in the reference year by country of "
                         "birth and citizenship.",
}
GRID = "The same table laid out as the toolkit's questionnaire grid: native-born, foreign-born " \
       "and total per row."

# column -> (concept name, definition)
COLUMNS: dict[str, tuple[str, str]] = {
    "period_type": ("Period type", "month, quarter or year"),
    "period": ("Period", "the period: YYYY, YYYY-Qn or YYYY-MM"),
    "period_start": ("Period start", "first day of the period"),
    "period_end": ("Period end", "last day of the period"),
    "reference_date": ("Reference date", "the day the population is counted on"),
    "year": ("Year", "calendar year"),
    "reference_year": ("Reference year", "calendar year the table refers to"),
    "event_type": ("Flow", "IMMIGRATION, EMIGRATION, RETURNING_CITIZEN or RETURNING_NATIVE_BORN "
                   "(immigrations of persons holding the home citizenship, or born in the home "
                   "country)"),
    "population": ("Population", "RESIDENT, IMMIGRANT_POPULATION, EMIGRANT_POPULATION, "
                   "RETURNED_MIGRANTS, TEMPORARY_POPULATION or PRESENT_POPULATION"),
    "breakdown": ("Breakdown", "the dimensions this row is broken down by, joined with '+' "
                  "('total' for none); the other dimensions read ALL"),
    "sex": ("Sex", "F, M, X (another sex) or UNKNOWN; ALL in rows not broken down by sex"),
    "age_group": ("Age group", "age in completed years on the event or reference date, grouped"),
    "citizenship": ("Citizenship", "country of citizenship, ISO 3166-1 alpha-3, on the event or "
                    "reference date"),
    "country_of_birth": ("Country of birth", "ISO 3166-1 alpha-3"),
    "subpopulation": ("Subpopulation", "NATIVE_BORN_CITIZEN, NATIVE_BORN_FOREIGN_CITIZEN, "
                      "FOREIGN_BORN_CITIZEN, FOREIGN_BORN_FOREIGN_CITIZEN (UN Secretary-General "
                      "report 2020, the four subpopulations); UNKNOWN when birth country or "
                      "citizenship is unknown"),
    "country": ("Country", "flows: previous country of residence of immigrants, next country "
                "of emigrants; stocks: country of residence of emigrants"),
    "reason": ("Reason", "purpose of the stay declared at the border or on the permit"),
    "persons": ("Persons", "distinct persons in the cell"),
    "events": ("Events", "migrations (or stays, decisions) in the cell; a person may have more "
               "than one"),
    "provisional_events": ("Provisional events", "events whose residence window had not closed "
                           "when the data end"),
    "persons_final": ("Persons with a final migration", "persons whose migration in the cell "
                      "is already decided by the data"),
    "persons_expected": ("Expected further persons", "migrations expected among the crossings "
                         "not yet decided (model estimate)"),
    "persons_provisional_estimate": ("Provisional estimate", "persons_final + persons_expected: "
                                     "the figure to publish for a provisional period"),
    "ci_low": ("95 % interval, lower bound", "of the provisional estimate"),
    "ci_high": ("95 % interval, upper bound", "of the provisional estimate"),
    "status": ("Status", "final once every residence window starting in the period has closed, "
               "else provisional"),
    "mobility_type": ("Mobility type", "NON_RESIDENT_STAY or RESIDENT_TRIP_ABROAD"),
    "category": ("Category", "CROSS_BORDER_WORKER, SEASONAL_WORKER, CIRCULAR_MOVER or ALL"),
    "duration_band": ("Duration band", "length of the stay or trip"),
    "purpose": ("Purpose", "purpose of the stay or trip"),
    "stays": ("Stays", "stays or trips in the cell"),
    "person_days": ("Person-days", "days spent in the country (abroad) in the year"),
    "open_stays": ("Open stays", "stays not ended when the data end"),
    "flow": ("Asylum flow", "APPLICATION, ENTRY_DECLARING_ASYLUM, DECISION or DEPARTURE"),
    "decision": ("Decision", "outcome of the asylum application"),
    "stock_start": ("Stock at start", "residents on 1 January"),
    "immigration": ("Immigration", "immigrations in the year"),
    "emigration": ("Emigration", "emigrations in the year"),
    "births": ("Births", "live births in the year"),
    "deaths": ("Deaths", "deaths in the year"),
    "citizenship_acquired": ("Citizenship acquired", "moves into the subpopulation by "
                             "acquiring the home citizenship"),
    "citizenship_lost": ("Citizenship lost", "moves out of the subpopulation by losing the "
                         "home citizenship"),
    "stock_end": ("Stock at end", "residents on 31 December"),
    "residual": ("Residual", "what the other terms leave unexplained (shown, not hidden)"),
    "cell": ("Cell", "the questionnaire's cell letter"),
    "label": ("Label", "the questionnaire's wording of the cell"),
    "formula": ("Formula", "how the cell adds up from others"),
    "definition": ("Definition", "what the table counts"),
    "source": ("Source", "registers and warehouse tables the figures come from"),
    "notes": ("Notes", "notes on the cells"),
    "row_order": ("Row", "position of the row in the questionnaire grid"),
    "row_label": ("Row label", "the questionnaire's wording of the row"),
    "native_born": ("Native-born", "persons born in the home country"),
    "foreign_born": ("Foreign-born", "persons born abroad"),
    "total": ("Total", "native-born + foreign-born"),
    "suppressed": ("Suppressed", "true when counts of this row (or cell) are withheld for "
                   "confidentiality (small-cell protection)"),
}


def table_definition(table: str) -> str:
    """The short definition of a published table (the grids refer to their long table)."""
    if table.endswith("_grid"):
        return f"{TABLES.get(table[:-5], table)} {GRID}"
    return TABLES.get(table, table)


def column_definition(column: str) -> tuple[str, str]:
    """(name, definition) of a column; an unknown one is named by itself."""
    return COLUMNS.get(column, (column.replace("_", " ").capitalize(), column))
