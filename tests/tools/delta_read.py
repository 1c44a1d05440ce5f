"""Reads a recast lake table as outside engines do and prints what each saw, as JSON.

    python3 tests/tools/delta_read.py LAKE_DIR/datasets/sales [VERSION]

DuckDB reads through its delta extension (`delta_scan`), loaded by path from the PyPI package
`duckdb-extension-delta` (DuckDB cannot download extensions on machines without internet);
Python `deltalake` (delta-rs) reads the log and the data itself. The integration tests run
this script; docs/operations.md shows the same reads.
"""

import glob
import json
import os
import sys

import deltalake
import duckdb
import duckdb_extension_delta
import pyarrow


def delta_extension() -> str:
    folder = os.path.join(
        os.path.dirname(duckdb_extension_delta.__file__),
        "extensions",
        "v" + duckdb.__version__,
    )
    found = glob.glob(os.path.join(folder, "*.duckdb_extension"))
    if not found:
        sys.exit(f"no delta extension for duckdb {duckdb.__version__} in {folder}")
    return found[0]


def main() -> None:
    table_dir = sys.argv[1]
    version = int(sys.argv[2]) if len(sys.argv) > 2 else None
    table = deltalake.DeltaTable(table_dir, version=version)
    data = table.to_pyarrow_table()
    actions = pyarrow.table(table.get_add_actions(flatten=True)).to_pydict()
    out = {
        "version": table.version(),
        "deltalake_rows": data.num_rows,
        "files": len(table.file_uris()),
        "stats_rows": sum(actions.get("num_records", [])),
        "recast_commit": table.transaction_version("recast"),
        "columns": [f.name for f in data.schema],
        "protocol": [table.protocol().min_reader_version, table.protocol().min_writer_version],
    }
    if version is None:
        con = duckdb.connect()
        con.execute(f"LOAD '{delta_extension()}'")
        out["duckdb_rows"] = con.execute(
            f"SELECT count(*) FROM delta_scan('{table_dir}')"
        ).fetchone()[0]
        out["duckdb_days"] = [
            str(r[0])
            for r in con.execute(
                f"SELECT DISTINCT dt FROM delta_scan('{table_dir}') ORDER BY dt"
            ).fetchall()
        ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
