//! Lands a generated 10-million-row interactions CSV through the real pipeline runner and
//! runs DuckDB's `COPY ... (FORMAT PARQUET, PARTITION_BY ...)` on the same file in the same
//! run, printing rows/s, seconds, our peak RSS and the time ratio.
//!
//!     cargo bench --bench etl_land                 # 10,000,000 rows
//!     RECAST_BENCH_ROWS=1000000 cargo bench --bench etl_land
//!
//! Needs `python3 -c 'import duckdb'` for the comparison (skipped with a note otherwise).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use recast::config::{Settings, Sources};

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{env_or, peak_rss_mib};

fn generate(path: &Path, rows: usize) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(
        b"event_id,user_id,item_id,event_type,value,timestamp,session_id,recommendation_id\n",
    )?;
    const TYPES: [&str; 4] = ["view", "click", "add_to_cart", "purchase"];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let user = state % 100_000;
        let item = (state >> 20) % 20_000;
        let kind = TYPES[((state >> 40) % 4) as usize];
        let day = 1 + (i * 30 / rows);
        let second = (state >> 8) % 86_400;
        writeln!(
            out,
            "ev{i:09},u{user},i{item},{kind},1,2024-06-{day:02}T{:02}:{:02}:{:02}Z,s{},",
            second / 3600,
            (second / 60) % 60,
            second % 60,
            user * 7 + (i as u64 / 50)
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn duckdb_seconds(csv: &Path, out_dir: &Path) -> Option<f64> {
    let script = format!(
        r#"
import duckdb, time
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")
t = time.time()
con.execute("""COPY (SELECT *, CAST(CAST("timestamp" AS TIMESTAMPTZ) AS DATE) AS dt FROM read_csv('{csv}', header=true))
               TO '{out}' (FORMAT PARQUET, PARTITION_BY (dt), COMPRESSION ZSTD)""")
print(time.time() - t)
"#,
        csv = csv.display(),
        out = out_dir.display()
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("duckdb failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seconds = stdout.lines().last().and_then(|l| l.trim().parse().ok());
    if seconds.is_none() {
        eprintln!("duckdb printed no timing: {stdout}");
    }
    seconds
}

fn main() {
    let rows = env_or("RECAST_BENCH_ROWS", 10_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let csv = landing.join("interactions.csv");
    let t = Instant::now();
    let bytes = generate(&csv, rows).expect("generate the CSV");
    eprintln!(
        "generated {rows} rows ({:.0} MiB) in {:.1} s",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(
        pipelines.join("interactions.toml"),
        format!(
            "name = \"bench\"\ndataset = \"interactions\"\n[source]\ntype = \"files\"\nurl = \"file://{}\"\n[columns]\nts = {{ from = \"timestamp\" }}\n",
            landing.display()
        ),
    )
    .unwrap();
    let settings = Settings::load(&Sources {
        env: vec![
            (
                "RECAST_DATABASE_URL".into(),
                format!("sqlite://{}", dir.path().join("bench.db").display()),
            ),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.path().join("lake").display()),
            ),
            (
                "RECAST_PIPELINES_DIR".into(),
                pipelines.display().to_string(),
            ),
        ],
        ..Default::default()
    })
    .expect("settings");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rss_before = peak_rss_mib();
    let (ours, report) = runtime.block_on(async {
        let app = recast::service::open(settings).await.expect("app");
        let spec = recast::etl::pipelines::find_pipeline(&app, "bench").expect("pipeline");
        let t = Instant::now();
        let report = recast::etl::runner::run_pipeline(&app, &spec, &recast::progress::none())
            .await
            .expect("run");
        (t.elapsed().as_secs_f64(), report)
    });
    assert_eq!(report.rows_landed as usize, rows, "every row lands");
    let peak = peak_rss_mib();
    println!(
        "recast  : {rows} rows in {ours:.2} s = {:.0} rows/s, peak RSS {peak:.0} MiB (before the run {rss_before:.0} MiB)",
        rows as f64 / ours
    );
    match duckdb_seconds(&csv, &dir.path().join("duckdb_out")) {
        Some(duck) => {
            println!(
                "duckdb  : {rows} rows in {duck:.2} s = {:.0} rows/s (2 threads)",
                rows as f64 / duck
            );
            println!(
                "ratio   : recast / duckdb = {:.2}x (goal <= 1.0x), peak RSS goal < 1024 MiB",
                ours / duck
            );
        }
        None => println!("duckdb  : not available (pip install duckdb) — no ratio"),
    }
}
