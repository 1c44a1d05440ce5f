//! A/B experiments through their real interfaces: the admin API's life cycle and validation,
//! assignment over HTTP, serving two recommender versions with durable exposures, a planted
//! lift found by the results endpoint and the CLI, and a broken split flagged by the SRM check.

use crate::common::assert_success;
use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use recast::auth::Role;
use recast::db::experiments::{ExposureRow, insert_exposure};
use recast::etl::events;
use recast::experiments::assignment;
use recast::recommend::artifact::ModelKind;
use recast::recommend::train::TrainParams;
use serde_json::{Value, json};

use crate::common::{TestEnv, TestServer, expect_problem};

async fn send(
    srv: &TestServer,
    method: reqwest::Method,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = srv.client.request(method, srv.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

async fn ok_json(res: reqwest::Response, status: u16) -> Value {
    let code = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

fn spec(name: &str, layer: &str, variants: Value) -> Value {
    json!({"name": name, "layer": layer, "hypothesis": "the new model sells more", "variants": variants,
           "primary_metric": "revenue_per_user", "guardrails": ["ctr"]})
}

fn two_arms() -> Value {
    json!([{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5, "diversity": 0.5}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_validation_and_assignment_over_http() {
    use reqwest::Method;
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let reader = srv.key(Role::Reader).await;

    // Validation names the field at fault; readers cannot create.
    let mut bad = spec("bad", "default", two_arms());
    bad["variants"][1]["weight"] = json!(0.4);
    let p = expect_problem(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&bad)).await,
        422,
    )
    .await;
    assert_eq!(p["field"], "variants");
    assert!(p["detail"].as_str().unwrap().contains("sum to 1"));
    let mut bad = spec("bad", "default", two_arms());
    bad["variants"][1]["model_version"] = json!("no-such-version");
    let p = expect_problem(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&bad)).await,
        422,
    )
    .await;
    assert_eq!(p["field"], "variants[1].model_version");
    let mut bad = spec("bad", "default", two_arms());
    bad["coverage"] = json!(1.5);
    let p = expect_problem(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&bad)).await,
        422,
    )
    .await;
    assert_eq!(p["field"], "coverage");
    let mut bad = spec("bad", "default", two_arms());
    bad["variants"][0]["colour"] = json!("red");
    expect_problem(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&bad)).await,
        422,
    )
    .await;
    let good = spec("first", "default", two_arms());
    expect_problem(
        send(&srv, Method::POST, &reader, "/v1/experiments", Some(&good)).await,
        403,
    )
    .await;

    // Create (draft), edit the draft, start, and then no more edits.
    let created = ok_json(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&good)).await,
        201,
    )
    .await;
    assert_eq!(created["status"], "draft");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["salt"], id.as_str());
    expect_problem(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&good)).await,
        409,
    )
    .await; // name taken
    let mut edited = good.clone();
    edited["coverage"] = json!(0.5);
    edited["salt"] = json!("fixed-salt");
    let after = ok_json(
        send(
            &srv,
            Method::PUT,
            &admin,
            &format!("/v1/experiments/{id}"),
            Some(&edited),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(after["spec"]["coverage"], 0.5);
    assert_eq!(after["salt"], "fixed-salt");
    let started = ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/start"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(started["status"], "running");
    assert!(started["started_at"].is_string());
    let p = expect_problem(
        send(
            &srv,
            Method::PUT,
            &admin,
            &format!("/v1/experiments/{id}"),
            Some(&edited),
        )
        .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("running"));
    expect_problem(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/start"),
            None,
        )
        .await,
        409,
    )
    .await;

    // One running experiment per layer; another layer is fine.
    let same_layer = ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            "/v1/experiments",
            Some(&spec("second", "default", two_arms())),
        )
        .await,
        201,
    )
    .await;
    let p = expect_problem(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!(
                "/v1/experiments/{}/start",
                same_layer["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("layer `default`"));
    let other_layer = ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            "/v1/experiments",
            Some(&spec("third", "ranking", two_arms())),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!(
                "/v1/experiments/{}/start",
                other_layer["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
        200,
    )
    .await;

    // Listing and filters.
    let all = ok_json(
        send(&srv, Method::GET, &reader, "/v1/experiments", None).await,
        200,
    )
    .await;
    assert_eq!(all["experiments"].as_array().unwrap().len(), 3);
    let running = ok_json(
        send(
            &srv,
            Method::GET,
            &reader,
            "/v1/experiments?status=running",
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(running["experiments"].as_array().unwrap().len(), 2);
    let p = expect_problem(
        send(
            &srv,
            Method::GET,
            &reader,
            "/v1/experiments?status=paused",
            None,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "status");
    expect_problem(
        send(&srv, Method::GET, &reader, "/v1/experiments/nope", None).await,
        404,
    )
    .await;

    // Assignment: the library's hash, held-out users outside the 50 % coverage, non-ASCII ids.
    let mut held_out = 0;
    for user in [
        "alice", "bob", "José", "用户-7", "🙂", "u-1", "u-2", "u-3", "u-4", "u-5",
    ] {
        let a = ok_json(
            send(
                &srv,
                Method::GET,
                &reader,
                &format!(
                    "/v1/experiments/{id}/assignment?user_id={}",
                    url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
                ),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(a["user_id"], user);
        assert_eq!(
            a["bucket"].as_u64().unwrap(),
            assignment::bucket("fixed-salt", user) as u64
        );
        let expected = assignment::assign("fixed-salt", user, &[0.5, 0.5], 0.5)
            .map(|v| ["control", "treatment"][v]);
        assert_eq!(a["variant"].as_str(), expected, "{user}");
        assert_eq!(a["active"], expected.is_some());
        held_out += usize::from(expected.is_none());
    }
    assert!(held_out > 0 && held_out < 10, "coverage 0.5 holds some out");
    let p = expect_problem(
        send(
            &srv,
            Method::GET,
            &reader,
            &format!("/v1/experiments/{id}/assignment"),
            None,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "user_id");

    // A running experiment with no exposures yet reads as empty arms, not an error.
    let r = ok_json(
        send(
            &srv,
            Method::GET,
            &reader,
            &format!("/v1/experiments/{id}/results"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["variants"][0]["users"], 0);
    assert_eq!(r["srm"]["mismatch"], false);

    // Stop is final.
    let stopped = ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/stop"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(stopped["status"], "stopped");
    expect_problem(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/stop"),
            None,
        )
        .await,
        409,
    )
    .await;
    expect_problem(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/start"),
            None,
        )
        .await,
        409,
    )
    .await;
    srv.stop().await;
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn post_events(srv: &TestServer, key: &str, events: &[Value]) {
    for chunk in events.chunks(5000) {
        let res = srv
            .post_as("/v1/events", key, &json!({ "events": chunk }))
            .await;
        let body = ok_json(res, 200).await;
        assert_eq!(
            body["accepted"].as_u64().unwrap(),
            chunk.len() as u64,
            "{body}"
        );
    }
    events::flush(&srv.app, &events::default_spec(), &recast::progress::none())
        .await
        .unwrap();
}

async fn train(srv: &TestServer, model: ModelKind) -> String {
    let params = TrainParams {
        model,
        holdout_days: 2.0,
        ..Default::default()
    };
    recast::recommend::train::run(
        &srv.app,
        &params,
        std::sync::Arc::new(recast::progress::none()),
    )
    .await
    .unwrap()
    .version
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_model_versions_serve_and_a_planted_lift_is_detected() {
    use reqwest::Method;
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let reader = srv.key(Role::Reader).await;
    let ingest = srv.key(Role::Ingest).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = Utc::now();
    let users: Vec<String> = (0..500).map(|u| format!("user-{u}")).collect();

    // History to train on (older than the pre-period) and pre-period purchases (the CUPED
    // covariate), through the event API and the flush like production traffic.
    let mut history = Vec::new();
    for (u, user) in users.iter().enumerate() {
        let cat = u % 3;
        for k in 0..6 {
            history.push(json!({"event_id": format!("h-{u}-{k}"), "user_id": user,
                "item_id": format!("c{cat}-{}", rng.random_range(0..10)), "event_type": "view",
                "ts": rfc3339(now - ChronoDuration::days(20 - k))}));
        }
        if rng.random_bool(0.4) {
            history.push(json!({"event_id": format!("pre-{u}"), "user_id": user,
                "item_id": format!("c{cat}-0"), "event_type": "purchase",
                "value": 20.0 + rng.random_range(0.0..40.0),
                "ts": rfc3339(now - ChronoDuration::days(2))}));
        }
    }
    post_events(&srv, &ingest, &history).await;
    let control_version = train(&srv, ModelKind::Popularity).await;
    let treatment_version = train(&srv, ModelKind::ItemKnn).await;
    assert_eq!(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/models/{control_version}/promote"),
            None
        )
        .await
        .status(),
        200
    );

    let body = json!({
        "name": "knn-vs-popularity",
        "hypothesis": "item-kNN recommendations convert better than popularity",
        "salt": "e2e-salt",
        "coverage": 0.9,
        "variants": [
            {"name": "popularity", "weight": 0.5, "model_version": control_version},
            {"name": "item-knn", "weight": 0.5, "model_version": treatment_version}
        ],
        "primary_metric": "conversion_rate",
        "guardrails": ["ctr"],
        "pre_period_days": 7,
        "attribution_hours": 24
    });
    let exp = ok_json(
        send(&srv, Method::POST, &admin, "/v1/experiments", Some(&body)).await,
        201,
    )
    .await;
    let id = exp["id"].as_str().unwrap().to_string();
    ok_json(
        send(
            &srv,
            Method::POST,
            &admin,
            &format!("/v1/experiments/{id}/start"),
            None,
        )
        .await,
        200,
    )
    .await;

    // Traffic: every user asks once; each response names the variant the hash picks and is
    // served by that variant's model version; held-out users get the promoted model.
    let mut outcomes = Vec::new();
    let mut held_out = 0;
    for chunk in users.chunks(25) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|u| format!("/v1/users/{u}/recommendations?k=5"))
            .collect();
        let responses = futures::future::join_all(
            paths
                .iter()
                .map(|p| send(&srv, Method::GET, &reader, p, None)),
        )
        .await;
        for (user, res) in chunk.iter().zip(responses) {
            let r = ok_json(res, 200).await;
            let expected = assignment::assign("e2e-salt", user, &[0.5, 0.5], 0.9);
            match expected {
                None => {
                    held_out += 1;
                    assert!(r.get("experiment").is_none(), "{r}");
                    assert_eq!(r["model_version"], control_version.as_str());
                }
                Some(v) => {
                    let variant = ["popularity", "item-knn"][v];
                    assert_eq!(r["experiment"]["id"], id.as_str());
                    assert_eq!(r["experiment"]["name"], "knn-vs-popularity");
                    assert_eq!(r["experiment"]["variant"], variant);
                    let version = [&control_version, &treatment_version][v];
                    assert_eq!(r["model_version"], version.as_str());
                    outcomes.push((
                        user.clone(),
                        v,
                        r["recommendation_id"].as_str().unwrap().to_string(),
                        r["items"][0]["item_id"]
                            .as_str()
                            .unwrap_or("c0-0")
                            .to_string(),
                    ));
                }
            }
        }
    }
    assert!(
        (25..=80).contains(&held_out),
        "about 10 % held out: {held_out}"
    );

    // Behaviour after exposure, citing the recommendation: the same click rate in both arms,
    // purchases planted at 10 % (control) against 35 % (treatment).
    let mut after = Vec::new();
    for (i, (user, v, rec, item)) in outcomes.iter().enumerate() {
        let ts = rfc3339(Utc::now());
        if rng.random_bool(0.3) {
            after.push(
                json!({"event_id": format!("c-{i}"), "user_id": user, "item_id": item,
                "event_type": "click", "ts": ts, "recommendation_id": rec}),
            );
        }
        if rng.random_bool(if *v == 1 { 0.35 } else { 0.10 }) {
            after.push(
                json!({"event_id": format!("p-{i}"), "user_id": user, "item_id": item,
                "event_type": "purchase", "value": 30.0 + rng.random_range(0.0..20.0),
                "ts": ts, "recommendation_id": rec}),
            );
        }
    }
    post_events(&srv, &ingest, &after).await;

    let r = ok_json(
        send(
            &srv,
            Method::GET,
            &reader,
            &format!("/v1/experiments/{id}/results"),
            None,
        )
        .await,
        200,
    )
    .await;
    let users_in: u64 = r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["users"].as_u64().unwrap())
        .sum();
    assert_eq!(users_in as usize, outcomes.len());
    assert_eq!(r["variants"][0]["control"], true);
    assert_eq!(r["srm"]["mismatch"], false, "{}", r["srm"]);
    let find = |metric: &str| {
        r["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["metric"] == metric && c["variant"] == "item-knn")
            .unwrap_or_else(|| panic!("no {metric} comparison"))
            .clone()
    };
    let conv = find("conversion_rate");
    assert_eq!(conv["role"], "primary");
    assert_eq!(conv["test"], "two_proportion_z");
    assert_eq!(conv["significant"], true, "{conv}");
    assert!(conv["abs_lift"].as_f64().unwrap() > 0.15, "{conv}");
    assert!(conv["sequential_ci"][0].as_f64().unwrap() > 0.0, "{conv}");
    assert!(conv["chance_to_beat_control"].as_f64().unwrap() > 0.99);
    let rev = find("revenue_per_user");
    assert_eq!(rev["test"], "cuped_welch_t");
    assert!(rev["cuped_theta"].is_number());
    assert_eq!(rev["significant"], true, "{rev}");
    let ctr = find("ctr");
    assert_eq!(ctr["role"], "guardrail");
    assert_eq!(
        ctr["significant"], false,
        "no lift planted on clicks: {ctr}"
    );
    assert_eq!(ctr["guardrail_breached"], false);
    for c in r["comparisons"].as_array().unwrap() {
        let ci = c["abs_ci"].as_array().unwrap();
        let seq = c["sequential_ci"].as_array().unwrap();
        // Always-valid intervals are wider than fixed-horizon ones.
        assert!(seq[0].as_f64() < ci[0].as_f64() && seq[1].as_f64() > ci[1].as_f64());
    }

    // The CLI reads the same results as a table.
    let out = crate::common::recast_command(&srv.env.path())
        .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
        .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
        .args(["experiment", "results", &id])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    eprintln!("{table}");
    for needle in [
        "knn-vs-popularity",
        "popularity (control)",
        "conversion_rate",
        "revenue_per_user (CUPED)",
        "better",
        "sample ratio",
    ] {
        assert!(table.contains(needle), "`{needle}` missing from:\n{table}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_starts_and_stops_and_a_broken_split_is_flagged() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let run = |args: &[&str]| {
        let out = crate::common::recast_command(&srv.env.path())
            .env("RECAST_DATABASE_URL", &srv.env.settings.database_url)
            .env("RECAST_LAKE_URL", &srv.env.settings.lake_url)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let file = srv.env.path().join("exp.json");
    let mut def = spec("cli-made", "default", two_arms());
    def["variants"][0]["weight"] = json!(0.7);
    std::fs::write(&file, def.to_string()).unwrap();
    let (ok, _, err) = run(&["experiment", "create", "--file", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("variants") && err.contains("sum to 1"),
        "{err}"
    );
    def["variants"][1]["weight"] = json!(0.3);
    std::fs::write(&file, def.to_string()).unwrap();
    let (ok, out, err) = run(&[
        "experiment",
        "create",
        "--file",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let (ok, out, err) = run(&["experiment", "start", &id]);
    assert!(ok && out.contains("started"), "{err}");
    let (ok, out, _) = run(&["experiment", "list"]);
    assert!(
        ok && out.contains("cli-made") && out.contains("running"),
        "{out}"
    );
    let (ok, out, _) = run(&["experiment", "show", &id]);
    assert!(
        ok && out.contains("control") && out.contains("0.700"),
        "{out}"
    );

    // A logging bug drops a third of the treatment's exposures: 700 / 200 users on a 70/30
    // split. The readout flags it (and a healthy 700 / 300 is not flagged).
    let mut n = 0;
    for (variant, users) in [("control", 700), ("treatment", 200)] {
        for u in 0..users {
            n += 1;
            insert_exposure(
                &srv.app.db,
                &ExposureRow {
                    recommendation_id: format!("r{n}"),
                    experiment_id: id.clone(),
                    variant: variant.into(),
                    user_id: format!("{variant}-{u}"),
                    ts: recast::db::now_ms(),
                },
            )
            .await
            .unwrap();
        }
    }
    let r: Value = srv
        .get_as(&format!("/v1/experiments/{id}/results"), &reader)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["srm"]["observed"], json!([700, 200]));
    assert_eq!(r["srm"]["mismatch"], true, "{}", r["srm"]);
    assert!(r["srm"]["p_value"].as_f64().unwrap() < 0.001);
    assert!(
        r["notes"][0]
            .as_str()
            .unwrap()
            .contains("sample ratio mismatch")
    );
    let (ok, out, _) = run(&["experiment", "results", &id]);
    assert!(ok && out.contains("MISMATCH"), "{out}");
    for u in 200..300 {
        n += 1;
        insert_exposure(
            &srv.app.db,
            &ExposureRow {
                recommendation_id: format!("r{n}"),
                experiment_id: id.clone(),
                variant: "treatment".into(),
                user_id: format!("treatment-{u}"),
                ts: recast::db::now_ms(),
            },
        )
        .await
        .unwrap();
    }
    let (ok, out, _) = run(&["experiment", "results", &id, "--json"]);
    assert!(ok);
    let healthy: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(healthy["srm"]["observed"], json!([700, 300]));
    assert_eq!(healthy["srm"]["mismatch"], false);

    let (ok, out, _) = run(&["experiment", "stop", &id]);
    assert!(ok && out.contains("stopped"));
    let (ok, _, err) = run(&["experiment", "stop", &id]);
    assert!(!ok && err.contains("stopped"), "{err}");
    srv.stop().await;
}
