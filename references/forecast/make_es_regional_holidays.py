"""Spain's regional public holidays as a table, from the `holidays` package (0.109).

Why a table and not rules: each autonomous community fixes its own days by decree year by
year (a saint's day one year, a national holiday falling on a Sunday moved to the Monday the
next), so they are facts per year rather than rules. This writes every community's days that
are not Spain's national days, 2008 (the package's first year for Spain) to 2035, as `src/forecast/data/es_regional_holidays.tsv`
(`region<TAB>date<TAB>name`, names in English, snake_case); `forecast::country_holidays`
embeds it. Years the package only projects (decrees are published the year before) carry its
projection. Run: /root/.venvs/recast-fc/bin/python references/forecast/make_es_regional_holidays.py
"""

import pathlib
import re
import unicodedata

import holidays

OUT = pathlib.Path(__file__).resolve().parents[2] / "src" / "forecast" / "data" / "es_regional_holidays.tsv"
YEARS = range(2008, 2036)


def snake(name):
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def main():
    lines = []
    regions = [s for s in holidays.ES.subdivisions if len(s) == 2]
    for region in regions:
        for year in YEARS:
            national = holidays.ES(years=year, language="en_US")
            own = holidays.ES(subdiv=region, years=year, language="en_US")
            for day in sorted(set(own) - set(national)):
                lines.append(f"{region}\t{day.isoformat()}\t{snake(own[day].split(';')[0])}")
    header = f"# holidays {holidays.__version__}: make_es_regional_holidays.py; region, date, name\n"
    OUT.write_text(header + "\n".join(lines) + "\n")
    print(f"{len(lines)} days over {len(regions)} regions -> {OUT}")


if __name__ == "__main__":
    main()
