"""Spain's autonomous communities' and the US states' own public holidays as tables, from the
`holidays` package (0.109).

Why tables and not rules: Spain's communities fix their days by decree year by year (a
saint's day one year, a national holiday falling on a Sunday moved to the Monday the next),
and the US states rename, add and drop days with dates and observed-day rules of their own
(226 names beyond the federal calendar's), so both are facts per year rather than a few rules.

Writes, for 2008 (the package's first year for Spain) to 2035, one line per day a region adds
to its country's national days, and for the US one line per federal day a state does not
keep (name `-`), as `src/forecast/data/{es_regional,us_state}_holidays.tsv`
(`region<TAB>date<TAB>name`, names in English, snake_case); `forecast::country_holidays`
embeds them. Years the package only projects (decrees come the year before) carry its
projection. Run: /root/.venvs/recast-fc/bin/python references/forecast/make_regional_holidays.py
"""

import pathlib
import re
import unicodedata

import holidays

DATA = pathlib.Path(__file__).resolve().parents[2] / "src" / "forecast" / "data"
YEARS = range(2008, 2036)


def snake(name):
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def table(country, regions, path, with_removals):
    lines = []
    for region in regions:
        for year in YEARS:
            national = country(years=year, language="en_US")
            own = country(subdiv=region, years=year, language="en_US")
            for day in sorted(set(own) - set(national)):
                lines.append(f"{region}\t{day.isoformat()}\t{snake(own[day].split(';')[0])}")
            if with_removals:
                for day in sorted(set(national) - set(own)):
                    lines.append(f"{region}\t{day.isoformat()}\t-")
    header = f"# holidays {holidays.__version__}: make_regional_holidays.py; region, date, name (- : not kept)\n"
    path.write_text(header + "\n".join(lines) + "\n")
    print(f"{len(lines)} lines over {len(regions)} regions -> {path}")


def main():
    es = [s for s in holidays.ES.subdivisions if len(s) == 2]
    table(holidays.ES, es, DATA / "es_regional_holidays.tsv", False)
    table(holidays.US, list(holidays.US.subdivisions), DATA / "us_state_holidays.tsv", True)


if __name__ == "__main__":
    main()
