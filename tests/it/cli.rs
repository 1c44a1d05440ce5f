//! The `recast` binary as an operator uses it: keys before the server runs, config printing,
//! serve on embedded defaults, and a clean exit on SIGTERM.

use crate::common::assert_success;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{backend, fresh_database_url};

fn recast(dir: &std::path::Path) -> Command {
    crate::common::recast_command(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_create_list_revoke_before_any_server() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;
    let out = recast(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .args([
            "keys",
            "create",
            "--role",
            "ingest",
            "--name",
            "shop-frontend",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on stdout: {stdout:?}"
    );
    assert!(key.starts_with("rk_") && key.len() == 67, "{key}");

    let out = recast(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "shop-frontend");
    assert_eq!(listed[0]["role"], "ingest");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(key),
        "secret never listed"
    );
    let id = listed[0]["id"].as_str().unwrap().to_string();

    let out = recast(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .args(["keys", "revoke", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = recast(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .args(["keys", "create", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role `root`"));
}

#[test]
fn config_is_layered_validated_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recast.toml"),
        "listen = \"127.0.0.1:9999\"\n[s3]\nsecret_access_key = \"file-secret\"\n",
    )
    .unwrap();
    let out = recast(dir.path())
        .env("RECAST_S3_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .arg("config")
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("listen = \"127.0.0.1:9999\""),
        "file read from the cwd: {text}"
    );
    assert!(text.contains("AKIDEXAMPLE"));
    assert!(!text.contains("file-secret"), "secret redacted: {text}");

    let out = recast(dir.path())
        .env("RECAST_WORKER_LEASE_SECONDS", "soon")
        .arg("config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RECAST_WORKER_LEASE_SECONDS"));

    std::fs::write(dir.path().join("bad.toml"), "lisen = \"x\"\n").unwrap();
    let out = recast(dir.path())
        .args(["--config", "bad.toml", "config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("lisen"), "{err}");

    // A schedule naming a job kind nobody handles stops `serve` before it listens.
    std::fs::write(
        dir.path().join("typo.toml"),
        "[[scheduler.schedules]]\nname = \"nightly\"\ncron = \"0 0 3 * * *\"\nkind = \"sweep_lakes\"\n",
    )
    .unwrap();
    let out = recast(dir.path())
        .args(["--config", "typo.toml", "serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scheduler.schedules[0].kind") && err.contains("sweep_lakes"),
        "{err}"
    );
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = recast(dir.path()).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert!(out.stdout == committed, "openapi/openapi.json is stale");
}

/// The README's run path: embedded defaults in an empty directory, a key made before the
/// server starts, docs served, and SIGTERM ends the process with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_embedded_defaults_then_sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra_env = Vec::new();
    if backend() == "postgres" {
        extra_env.push(("RECAST_DATABASE_URL", fresh_database_url(dir.path()).await));
    }
    let out = recast(dir.path())
        .envs(extra_env.clone())
        .args(["keys", "create", "--role", "reader"])
        .output()
        .unwrap();
    assert_success(&out);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let port = crate::common::free_port();
    let mut child = recast(dir.path())
        .envs(extra_env)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    crate::common::wait_healthy(&base, &mut child).await;

    if backend() == "sqlite" {
        assert!(
            dir.path().join("data/recast.db").exists(),
            "embedded DB below the cwd"
        );
        assert!(
            dir.path().join("data/lake").is_dir(),
            "embedded lake below the cwd"
        );
    }
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/docs"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = client
        .get(format!("{base}/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "key made by the CLI works on the server");

    let exit = crate::common::terminate(&mut child, Duration::from_secs(30)).await;
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}

#[test]
fn reading_commands_in_the_wrong_directory_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["models", "list"][..],
        &["forecasts", "accuracy", "--run", "r1"],
        &["features", "list"],
    ] {
        let out = crate::common::recast_command(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no recast state here") && err.contains("data/recast.db"),
            "{args:?}: {err}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created in the wrong directory"
    );
}

#[test]
fn demo_reports_a_busy_port_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = crate::common::recast_command(dir.path())
        .args(["demo", "--serve", "--listen", &addr, "--users", "20"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!dir.path().join("data").exists(), "no work was done");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    drop(busy);
}
