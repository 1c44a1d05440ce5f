"""Reads a recast lake table as outside engines do and prints what each saw, as JSON.

    python3 tests/tools/delta_read.py LAKE_DIR/datasets/sales [VERSION]
    python3 tests/tools/delta_read.py s3://BUCKET/PREFIX/datasets/sales   # S3-compatible store

For s3:// tables the endpoint and keys come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (path-style addressing, plain http allowed for a loopback server), and
DuckDB also loads the httpfs extension file of the PyPI package `duckdb-extension-httpfs`.

DuckDB reads through its delta extension (`delta_scan`), loaded by path from the PyPI package
`duckdb-extension-delta` (DuckDB cannot download extensions on machines without internet);
Python `deltalake` (delta-rs) and Polars (`read_delta`) read the log and the data themselves. The integration tests run
this script; docs/operations.md shows the same reads.
"""

import glob
import json
import os
import sys

import deltalake
import duckdb
import duckdb_extension_delta
import polars
import pyarrow


def extension(package) -> str:
    folder = os.path.join(
        os.path.dirname(package.__file__), "extensions", "v" + duckdb.__version__
    )
    found = glob.glob(os.path.join(folder, "*.duckdb_extension"))
    if not found:
        sys.exit(f"no extension for duckdb {duckdb.__version__} in {folder}")
    return found[0]


def s3_options() -> dict:
    return {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


def duckdb_connection(s3: bool):
    con = duckdb.connect()
    con.execute(f"LOAD '{extension(duckdb_extension_delta)}'")
    if s3:
        import duckdb_extension_httpfs

        con.execute(f"LOAD '{extension(duckdb_extension_httpfs)}'")
        endpoint = os.environ["AWS_ENDPOINT_URL"].split("://", 1)[1]
        con.execute(
            "CREATE SECRET recast (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')",
            [os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], endpoint],
        )
    return con


def main() -> None:
    table_dir = sys.argv[1]
    version = int(sys.argv[2]) if len(sys.argv) > 2 else None
    s3 = table_dir.startswith("s3://")
    table = deltalake.DeltaTable(
        table_dir, version=version, storage_options=s3_options() if s3 else None
    )
    data = table.to_pyarrow_table()
    actions = pyarrow.table(table.get_add_actions(flatten=True)).to_pydict()
    out = {
        "version": table.version(),
        "deltalake_rows": data.num_rows,
        "files": len(table.file_uris()),
        "stats_rows": sum(actions.get("num_records", [])),
        # The table version that committed each commit key (`txn` app id `recast:<key>`).
        "key_versions": {
            app: table.transaction_version(app)
            for app in os.environ.get("RECAST_TXN_APPS", "").split(",")
            if app
        },
        "columns": [f.name for f in data.schema],
        "protocol": [table.protocol().min_reader_version, table.protocol().min_writer_version],
    }
    out["polars_rows"] = polars.read_delta(
        table_dir, version=version, storage_options=s3_options() if s3 else None
    ).height
    if version is None:
        con = duckdb_connection(s3)
        out["duckdb_rows"] = con.execute(
            f"SELECT count(*) FROM delta_scan('{table_dir}')"
        ).fetchone()[0]
        out["duckdb_days"] = [
            str(r[0])
            for r in con.execute(
                f"SELECT DISTINCT dt FROM delta_scan('{table_dir}') ORDER BY dt"
            ).fetchall()
        ]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
    # Leave without running the extensions' teardown: DuckDB's httpfs/delta threads were seen
    # to abort the interpreter at exit ("terminate called without an active exception") after
    # the answer was printed, failing the run.
    os._exit(0)
