"""Reference fixture for the country holiday rules (src/forecast/country_holidays.rs): the
national public holidays of each country with rules (and of each nation of the United
Kingdom, each German state, Moselle and Alsace, France's overseas departments and
collectivities, each Italian province: the package's GB and DE subdivisions, its FR ones but
the school zones, and its IT two-letter subdivisions), from the `holidays`
package (the
calendar the `prophet` package draws its country holidays from), for 1990-2035.

The dates are the holidays themselves (`observed=False`: no substitute days off when one falls
on a weekend). Writes references/forecast/country_holidays.json; the Rust unit test compares
every year's set of dates. Run with the pinned requirements installed:

    /root/.venvs/recast-fc/bin/python references/forecast/make_holiday_fixtures.py
"""

import json
import pathlib

import holidays

HERE = pathlib.Path(__file__).resolve().parent
YEARS = range(1990, 2036)
GERMAN_STATES = ["BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH"]
COUNTRIES = (
    ["AT", "DE"]
    + [f"DE-{s}" for s in GERMAN_STATES]
    + ["ES", "FR", "FR-57", "FR-6AE"]
    # France's overseas departments and collectivities.
    + [f"FR-{s}" for s in ["971", "972", "973", "974", "976", "BL", "MF", "NC", "PF", "PM", "TF", "WF"]]
    + ["GB", "GB-ENG", "GB-NIR", "GB-SCT", "GB-WLS", "IT", "US"]
)
# Italy's provinces by their two-letter codes (the package's city subdivisions left out);
# each is written as the dates it adds to Italy's, which keeps the file small.
IT_PROVINCES = [s for s in sorted(holidays.IT.subdivisions) if len(s) == 2]


def main():
    out = {"holidays": holidays.__version__, "years": [YEARS.start, YEARS.stop - 1], "countries": {}}
    for c in COUNTRIES:
        # A nation of the United Kingdom, a German state or Moselle/Alsace is the package's
        # subdivision (recast's FR-67 and FR-68 are its 6AE; the Rust test maps them).
        country, _, subdiv = c.partition("-")
        cal = holidays.country_holidays(
            country, subdiv=subdiv or None, years=list(YEARS), observed=False
        )
        out["countries"][c] = sorted(d.isoformat() for d in cal)
    italy = set(out["countries"]["IT"])
    out["it_provinces"] = {}
    for p in IT_PROVINCES:
        cal = holidays.country_holidays("IT", subdiv=p, years=list(YEARS), observed=False)
        out["it_provinces"][p] = sorted(set(d.isoformat() for d in cal) - italy)
    (HERE / "country_holidays.json").write_text(json.dumps(out, indent=0) + "\n")
    for c in COUNTRIES:
        print(c, len(out["countries"][c]))


if __name__ == "__main__":
    main()
