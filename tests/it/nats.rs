//! The NATS JetStream source against a real `nats-server` (RECAST_TEST_NATS_URL, default
//! nats://127.0.0.1:4222; `.ci/run` starts one): a consumer killed with `kill -9` mid-run and
//! restarted lands every message exactly once; malformed messages are quarantined with their
//! bytes; serving sees events before the lake commit; `/metrics` shows the consumer's lag.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use recast::lake::{Area, Scan};

use crate::common::{assert_success, fresh_database_url, recast_command, strings, terminate};

fn nats_url() -> String {
    std::env::var("RECAST_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A JetStream context, or None (a skip) when no server listens outside CI.
async fn jetstream() -> Option<async_nats::jetstream::Context> {
    match async_nats::connect(nats_url()).await {
        Ok(client) => Some(async_nats::jetstream::new(client)),
        Err(e) if !crate::common::in_ci() => {
            eprintln!("skipped: no nats-server at {}: {e}", nats_url());
            None
        }
        Err(e) => panic!("CI needs a nats-server at {}: {e}", nats_url()),
    }
}

/// Maps the messages' `type` to `event_type`.
const TYPE_MAP: &str = r#"[columns]
event_type = { from = "type", map = { "buy" = "purchase" } }"#;

/// A pipeline reading `stream` (created on `subject`) in batches of 200, redelivering after 2 s.
fn pipeline(name: &str, stream: &str, subject: &str, columns: &str) -> String {
    format!(
        r#"
name = "{name}"
dataset = "interactions"
[source]
type = "nats"
url = "{url}"
stream = "{stream}"
subjects = ["{subject}"]
batch_rows = 200
max_wait_ms = 200
ack_wait_seconds = 2
{columns}
"#,
        url = nats_url()
    )
}

fn event(i: usize) -> String {
    serde_json::json!({
        "event_id": format!("n{i}"),
        "user_id": format!("u{}", i % 97),
        "item_id": format!("i{}", i % 31),
        "type": if i.is_multiple_of(10) { "buy" } else { "view" },
        "ts": "2026-11-30T12:00:00Z",
    })
    .to_string()
}

async fn publish(js: &async_nats::jetstream::Context, subject: &str, payloads: Vec<Vec<u8>>) {
    let mut acks = Vec::with_capacity(payloads.len());
    for p in payloads {
        acks.push(js.publish(subject.to_string(), p.into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

fn recast(dir: &Path, db_url: &str) -> Command {
    let mut cmd = recast_command(dir);
    cmd.env("RECAST_DATABASE_URL", db_url);
    cmd
}

/// A fresh stream name and subject, and a world whose `stream` pipeline reads them.
struct Setup {
    stream: String,
    subject: String,
    dir: tempfile::TempDir,
    db_url: String,
}

async fn setup(columns: &str) -> Setup {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (stream, subject) = (format!("RECAST_T_{tag}"), format!("recast-t.{tag}.events"));
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/stream.toml"),
        pipeline("stream", &stream, &subject, columns),
    )
    .unwrap();
    Setup {
        stream,
        subject,
        dir,
        db_url,
    }
}

struct World {
    app: recast::app::App,
}

impl World {
    async fn open(dir: &Path, db_url: &str) -> World {
        let mut settings = recast::config::Settings::load(&recast::config::Sources {
            env: vec![
                ("RECAST_DATABASE_URL".into(), db_url.to_string()),
                (
                    "RECAST_LAKE_URL".into(),
                    format!("file://{}", dir.join("data/lake").display()),
                ),
            ],
            ..Default::default()
        })
        .unwrap();
        settings.pipelines_dir = dir.join("pipelines").display().to_string();
        World {
            app: recast::service::open(settings).await.unwrap(),
        }
    }

    async fn rows(&self, area: Area) -> Vec<RecordBatch> {
        self.app
            .lake
            .read_scan(&Scan::dataset("interactions").in_area(area))
            .await
            .unwrap()
    }

    async fn landed_ids(&self) -> Vec<String> {
        strings(&self.rows(Area::Datasets).await, "event_id")
    }
}

async fn wait_for(world: &World, what: &str, limit: Duration, done: impl Fn(usize) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let n = world.landed_ids().await.len();
        if done(n) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {n} rows landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_consumer_lands_every_message_exactly_once() {
    let Some(js) = jetstream().await else {
        return;
    };
    let Setup {
        stream,
        subject,
        dir,
        db_url,
    } = setup(TYPE_MAP).await;
    // The first drain creates the stream and the durable consumer (nothing waits yet).
    let out = recast(dir.path(), &db_url)
        .args(["pipeline", "run", "stream", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_landed"], 0, "{report}");

    let n = 6000;
    let mut payloads: Vec<Vec<u8>> = (0..n).map(|i| event(i).into_bytes()).collect();
    payloads.insert(1000, b"{not json".to_vec());
    payloads.insert(3000, br#"{"event_id":"bad1","user_id":"u","item_id":"i","type":"teleport","ts":"2026-11-30T12:00:00Z"}"#.to_vec());
    payloads.insert(5000, vec![0xff, 0xfe, b'{', 0x00]);
    publish(&js, &subject, payloads).await;

    let world = World::open(dir.path(), &db_url).await;
    let follow = || {
        recast(dir.path(), &db_url)
            .args(["pipeline", "run", "stream", "--follow"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = follow();
    wait_for(
        &world,
        "before the kill",
        Duration::from_secs(60),
        |landed| landed >= 400,
    )
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = world.landed_ids().await.len();
    assert!(
        at_kill < n,
        "the consumer finished before it could be killed"
    );

    let mut child = follow();
    wait_for(
        &world,
        "after the restart",
        Duration::from_secs(90),
        |landed| landed >= n,
    )
    .await;
    // Longer than ack_wait: anything left unacknowledged would be delivered and land again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let status = terminate(&mut child, Duration::from_secs(20)).await;
    assert!(status.success(), "the follower stops cleanly on SIGTERM");

    let ids = world.landed_ids().await;
    assert_eq!(ids.len(), n, "every message landed, none twice");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), n);
    let purchases = strings(&world.rows(Area::Datasets).await, "event_type")
        .iter()
        .filter(|t| *t == "purchase")
        .count();
    assert_eq!(purchases, n / 10, "the pipeline's column map applies");

    let quarantine = world.rows(Area::Quarantine).await;
    let mut details = strings(&quarantine, "detail");
    details.sort();
    assert_eq!(details.len(), 3, "{details:?}");
    let raw = strings(&quarantine, "raw");
    assert!(raw.contains(&"{not json".to_string()), "{raw:?}");
    assert!(
        raw.contains(&"fffe7b00".to_string()),
        "bytes kept, hex: {raw:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("teleport")),
        "{details:?}"
    );
    assert!(
        strings(&quarantine, "source")
            .iter()
            .all(|s| s == &format!("nats:{stream}"))
    );

    // Serving read the events as they came: user u3's newest events are in recent activity.
    let recent = recast::db::activity::recent(&world.app.db, "u3", 5)
        .await
        .unwrap();
    assert_eq!(recent.len(), 5);

    // Nothing is left for the consumer, and /metrics (any replica) says so.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer("recast-stream")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
    let states = recast::db::streams::all(&world.app.db).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].pending + states[0].ack_pending, 0, "{states:?}");
    // A consumer killed between a commit and its record leaves that batch out of the total.
    assert!(states[0].landed_total > 0 && states[0].landed_total <= n as i64);
    assert!(states[0].visible_lag_ms.is_some());

    let runs = recast::etl::runner::list_runs(&world.app, Some("stream"), 50)
        .await
        .unwrap();
    assert!(
        runs.iter()
            .any(|r| r.rows_landed > 0 && r.status == "succeeded"),
        "the follower left a run report on SIGTERM"
    );
    world.app.db.close().await;
    js.delete_stream(&stream).await.unwrap();
}

/// The metrics route shows a stream pipeline's lag from the consumer's last record.
#[tokio::test]
async fn metrics_show_stream_lag() {
    let env = crate::common::TestEnv::new().await;
    recast::db::streams::record(
        &env.db,
        &recast::db::streams::ConsumerState {
            pipeline: "clicks-stream".into(),
            stream: "CLICKS".into(),
            consumer: "recast-clicks-stream".into(),
            pending: 40,
            ack_pending: 2,
            last_sequence: 100,
            landed_total: 58,
            visible_lag_ms: Some(250),
            updated_at: 1,
        },
    )
    .await
    .unwrap();
    let server = crate::common::TestServer::start(env).await;
    let text = server.get_text("/metrics").await;
    for line in [
        "recast_stream_consumer_lag_messages{pipeline=\"clicks-stream\"} 42",
        "recast_stream_landed_rows{pipeline=\"clicks-stream\"} 58",
        "recast_event_visible_lag_seconds{pipeline=\"clicks-stream\"} 0.25",
        "recast_event_buffer_waiting 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    server.stop().await;
}

/// The window `kill -9` can only hit by luck, made certain: messages whose rows are already in
/// the lake (here landed through the event buffer) come back unacknowledged; the consumer lands
/// none of them again and acknowledges them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_messages_already_landed_land_nothing() {
    let Some(js) = jetstream().await else {
        return;
    };
    let Setup {
        stream,
        subject,
        dir,
        db_url,
    } = setup("").await;
    let drain = || {
        let out = recast(dir.path(), &db_url)
            .args(["pipeline", "run", "stream", "--json"])
            .output()
            .unwrap();
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    drain(); // creates the stream and the consumer
    let events: Vec<String> = (0..300)
        .map(|i| {
            event(i)
                .replace("\"type\"", "\"event_type\"")
                .replace("\"buy\"", "\"purchase\"")
        })
        .collect();
    publish(
        &js,
        &subject,
        events.iter().map(|e| e.clone().into_bytes()).collect(),
    )
    .await;

    // A consumer takes them and dies without acknowledging; their rows are in the lake.
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer("recast-stream")
        .await
        .unwrap();
    let mut taken = consumer
        .fetch()
        .max_messages(1000)
        .messages()
        .await
        .unwrap();
    let mut n = 0;
    while let Some(m) = futures::StreamExt::next(&mut taken).await {
        m.unwrap();
        n += 1;
    }
    assert_eq!(n, 300);
    let world = World::open(dir.path(), &db_url).await;
    let parsed = events
        .iter()
        .map(|e| recast::etl::events::parse_json(e))
        .collect();
    let ingested = recast::etl::events::ingest(
        &world.app.db,
        &world.app.activity,
        parsed,
        chrono::NaiveDate::MIN,
    )
    .await
    .unwrap();
    assert_eq!(ingested.accepted, 300, "{ingested:?}");
    recast::etl::events::flush(
        &world.app,
        &recast::etl::events::default_spec(),
        &recast::progress::none(),
    )
    .await
    .unwrap();
    assert_eq!(world.landed_ids().await.len(), 300);

    tokio::time::sleep(Duration::from_millis(2500)).await; // past ack_wait
    let report = drain();
    assert_eq!(report["rows_read"], 300, "{report}");
    assert_eq!(report["rows_landed"], 0, "{report}");
    assert_eq!(report["duplicates_landed"], 300, "{report}");
    assert_eq!(world.landed_ids().await.len(), 300, "nothing landed twice");
    let mut consumer = consumer;
    let info = consumer.info().await.unwrap();
    assert_eq!(
        (info.num_pending, info.num_ack_pending),
        (0, 0),
        "all acknowledged"
    );
    world.app.db.close().await;
    js.delete_stream(&stream).await.unwrap();
}
