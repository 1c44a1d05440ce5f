//! The HTTP service through a real server: auth matrix, problem+json, docs, metrics, jobs.

use recast::auth::Role;
use serde_json::json;

use crate::common::{TestEnv, TestServer, expect_problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_401_403_200() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let ingest = srv.key(Role::Ingest).await;
    let admin = srv.key(Role::Admin).await;
    let c = &srv.client;

    // Open routes need no key.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] {
        let res = c.get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} is open");
    }

    // No key, malformed header, unknown key: 401 with a Bearer challenge.
    let res = c.get(srv.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    expect_problem(res, 401).await;
    let res = c
        .get(srv.url("/v1/jobs"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;
    let res = c
        .get(srv.url("/v1/jobs"))
        .bearer_auth("rk_0000000000000000000000000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    expect_problem(res, 401).await;

    // Reader route: every role passes.
    for key in [&reader, &ingest, &admin] {
        let res = srv.get_as("/v1/jobs", key).await;
        assert_eq!(res.status(), 200);
    }
    // Admin routes: reader and ingest get 403, admin passes.
    let body = json!({"kind": "sweep_lake"});
    for key in [&reader, &ingest] {
        let res = srv.post_as("/v1/jobs", key, &body).await;
        let problem = expect_problem(res, 403).await;
        assert_eq!(problem["type"], "urn:recast:problem:forbidden");
    }
    let res = srv.post_as("/v1/jobs", &admin, &body).await;
    assert_eq!(res.status(), 202);
    let job: serde_json::Value = res.json().await.unwrap();
    let cancel = srv.url(&format!("/v1/jobs/{}/cancel", job["id"].as_str().unwrap()));
    let res = c.post(&cancel).bearer_auth(&reader).send().await.unwrap();
    expect_problem(res, 403).await;
    let res = c.post(&cancel).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A revoked key is refused.
    let store = recast::auth::KeyStore::new(srv.app.db.clone());
    let doomed = srv.key(Role::Admin).await;
    let doomed_id = store.list().await.unwrap().last().unwrap().id.clone();
    store.revoke(&doomed_id).await.unwrap();
    let res = srv.get_as("/v1/jobs", &doomed).await;
    expect_problem(res, 401).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_json_with_the_field() {
    let mut env = TestEnv::new().await;
    env.settings.max_body_bytes = 4096;
    let srv = TestServer::start(env).await;
    let admin = srv.key(Role::Admin).await;
    let c = &srv.client;
    let post = |body: Vec<u8>| {
        c.post(srv.url("/v1/jobs"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
    };

    let p = expect_problem(post(b"{\"kind\": ".to_vec()).send().await.unwrap(), 400).await;
    assert_eq!(p["type"], "urn:recast:problem:malformed-body");

    let p = expect_problem(post(br#"{"kind": 5}"#.to_vec()).send().await.unwrap(), 422).await;
    assert_eq!(p["field"], "kind");

    let p = expect_problem(
        post(br#"{"kind": "sweep_lake", "priority": "high"}"#.to_vec())
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["field"], "priority");

    let p = expect_problem(
        post(br#"{"kind": "sweep_lake", "colour": 1}"#.to_vec())
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");

    let p = expect_problem(
        post(br#"{"kind": "no_such_kind"}"#.to_vec())
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["field"], "kind");

    let big = format!(
        r#"{{"kind": "sweep_lake", "payload": {{"x": "{}"}}}}"#,
        "a".repeat(8000)
    );
    let p = expect_problem(post(big.into_bytes()).send().await.unwrap(), 413).await;
    assert_eq!(p["type"], "urn:recast:problem:payload-too-large");

    let res = c
        .post(srv.url("/v1/jobs"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("kind=sweep_lake")
        .send()
        .await
        .unwrap();
    expect_problem(res, 415).await;

    let res = srv.get_as("/v1/jobs?limit=lots", &admin).await;
    assert_eq!(expect_problem(res, 422).await["field"], "limit");
    let res = srv.get_as("/v1/jobs?limit=100000", &admin).await;
    assert_eq!(expect_problem(res, 422).await["field"], "limit");
    let res = srv.get_as("/v1/jobs?state=sleeping", &admin).await;
    assert_eq!(expect_problem(res, 422).await["field"], "state");

    let res = srv.get_as("/v1/jobs/does-not-exist", &admin).await;
    assert_eq!(
        expect_problem(res, 404).await["type"],
        "urn:recast:problem:not-found"
    );
    let res = c.get(srv.url("/v1/nothing-here")).send().await.unwrap();
    expect_problem(res, 404).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_api_enqueue_idempotency_list_cancel() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let c = &srv.client;
    let body = json!({"kind": "sweep_lake", "payload": {"grace_seconds": 60}, "idempotency_key": "nightly-1"});
    let res = srv.post_as("/v1/jobs", &admin, &body).await;
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let first: serde_json::Value = res.json().await.unwrap();
    assert_eq!(first["state"], "queued");
    assert_eq!(first["kind"], "sweep_lake");
    assert_eq!(
        location,
        format!("/v1/jobs/{}", first["id"].as_str().unwrap())
    );

    let res = srv.post_as("/v1/jobs", &admin, &body).await;
    assert_eq!(
        res.status(),
        200,
        "same idempotency key returns the existing job"
    );
    let again: serde_json::Value = res.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    for _ in 0..3 {
        let res = srv
            .post_as("/v1/jobs", &admin, &json!({"kind": "sweep_lake"}))
            .await;
        assert_eq!(res.status(), 202);
    }
    let page: serde_json::Value = srv
        .get_as("/v1/jobs?limit=2&state=queued", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let rest: serde_json::Value = srv
        .get_as(
            &format!("/v1/jobs?limit=2&state=queued&cursor={cursor}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 2);
    assert!(rest.get("next_cursor").is_none());

    let got: serde_json::Value = srv.get_as(&location, &admin).await.json().await.unwrap();
    assert_eq!(got["payload"]["grace_seconds"], 60);

    let res = c
        .post(srv.url(&format!("{location}/cancel")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cancelled: serde_json::Value = res.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    let res = c
        .post(srv.url(&format!("{location}/cancel")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_problem(res, 409).await["type"],
        "urn:recast:problem:conflict"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_docs_and_request_ids() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let c = &srv.client;

    let ready: serde_json::Value = c
        .get(srv.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["lake"], "ok");

    let res = c
        .get(srv.url("/v1/jobs"))
        .bearer_auth(&admin)
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");
    let res = c.get(srv.url("/healthz")).send().await.unwrap();
    assert!(!res.headers()["x-request-id"].is_empty());
    srv.post_as("/v1/jobs", &admin, &json!({"kind": "sweep_lake"}))
        .await;

    let metrics = c
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"recast_http_requests_total{method="GET",route="/v1/jobs",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("recast_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"recast_jobs{state="queued"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"recast_jobs{state="failed"} 0"#),
        "{metrics}"
    );

    let docs = c.get(srv.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("/docs/assets/swagger-ui-bundle.js"));
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"] {
        let res = c
            .get(srv.url(&format!("/docs/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        assert!(res.bytes().await.unwrap().len() > 50);
    }
    let init = c
        .get(srv.url("/docs/assets/init.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_file_matches_the_served_document() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let served = srv.get_text("/openapi.json").await;
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists");
    assert!(
        served == committed,
        "openapi/openapi.json is stale: regenerate with `cargo run -- openapi > openapi/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    srv.stop().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_a_body_ends_where_its_json_ends() {
    let srv = TestServer::start(TestEnv::new().await).await;
    for path in ["/docs", "/healthz", "/v1/nope"] {
        let res = srv.client.get(srv.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    let ingest = srv.key(recast::auth::Role::Ingest).await;
    let res = srv
        .client
        .post(srv.url("/v1/events"))
        .bearer_auth(&ingest)
        .header("content-type", "application/json")
        .body(r#"{"events": []} {"events": []}"#)
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 400).await;
    assert!(
        body["detail"].as_str().unwrap().contains("trailing"),
        "{body}"
    );

    // Too many headers, or too many bytes of them: a 431 that says which limit.
    let reader = srv.key(recast::auth::Role::Reader).await;
    let mut many = srv.client.get(srv.url("/v1/models")).bearer_auth(&reader);
    for i in 0..70 {
        many = many.header(format!("x-extra-{i}"), "1");
    }
    let body = expect_problem(many.send().await.unwrap(), 431).await;
    assert!(
        body["detail"].as_str().unwrap().contains("at most 64"),
        "{body}"
    );
    let res = srv
        .client
        .get(srv.url("/v1/models"))
        .bearer_auth(&reader)
        .header("x-big", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 431).await;
    assert!(body["detail"].as_str().unwrap().contains("16384"), "{body}");
    let res = srv.client.get(srv.url("/v1/models")).bearer_auth(&reader);
    assert_eq!(
        res.header("x-fine", "a".repeat(4_000))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn keys_are_managed_over_the_api_and_a_revoked_key_fails_at_once_on_every_replica() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let other = recast::service::server::start_on_loopback(
        srv.env.settings.clone(),
        recast::service::server::Background::NONE,
    )
    .await
    .unwrap();
    let admin = srv.key(recast::auth::Role::Admin).await;
    let res = srv
        .post_as(
            "/v1/keys",
            &admin,
            &serde_json::json!({ "name": "frontend", "role": "reader" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["key"]["id"].as_str().unwrap().to_string();
    let on_other = |key: String| {
        let url = format!("{}/v1/models", other.base_url());
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(on_other(secret.clone()).await, 200);
    // Readers cannot manage keys; a bad role is named.
    assert_eq!(srv.get_as("/v1/keys", &secret).await.status(), 403);
    let res = srv
        .post_as(
            "/v1/keys",
            &admin,
            &serde_json::json!({ "name": "x", "role": "root" }),
        )
        .await;
    assert_eq!(expect_problem(res, 422).await["field"], "role");
    let list: serde_json::Value = srv.get_as("/v1/keys", &admin).await.json().await.unwrap();
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str())
    );
    assert!(
        !list.to_string().contains(&secret),
        "secrets are never listed"
    );

    let res = srv
        .client
        .delete(srv.url(&format!("/v1/keys/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        on_other(secret.clone()).await,
        401,
        "refused at once elsewhere"
    );
    assert_eq!(srv.get_as("/v1/models", &secret).await.status(), 401);

    // A key cannot revoke itself: the caller (maybe the last admin) is not locked out.
    let own = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] != id.as_str() && k["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = srv
        .client
        .delete(srv.url(&format!("/v1/keys/{own}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    expect_problem(res, 409).await;
    assert_eq!(srv.get_as("/v1/models", &admin).await.status(), 200);
    other.shutdown().await;
}

#[tokio::test]
async fn a_job_that_can_never_run_is_refused_when_submitted() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(recast::auth::Role::Admin).await;
    let res = srv
        .post_as(
            "/v1/jobs",
            &admin,
            &serde_json::json!({ "kind": "run_pipeline", "payload": { "pipeline": "nope" } }),
        )
        .await;
    let body = expect_problem(res, 422).await;
    assert_eq!(body["field"], "payload.pipeline", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nope"), "{body}");
    let res = srv
        .post_as(
            "/v1/jobs",
            &admin,
            &serde_json::json!({ "kind": "run_pipeline", "payload": { "pipeline": "interactions" } }),
        )
        .await;
    assert_eq!(res.status(), 202);
}

/// A NUL byte in a path parameter, a query parameter or a body string is a 422 naming it, on
/// both databases, from one validation layer; events are checked one by one as before.
#[tokio::test]
async fn nul_bytes_are_refused_with_the_field_wherever_they_arrive() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let c = &srv.client;
    let get = |path: &str| c.get(srv.url(path)).bearer_auth(&admin).send();

    let p = expect_problem(get("/v1/forecasts/a%00b").await.unwrap(), 422).await;
    assert_eq!(p["field"], "series_id", "{p}");
    let p = expect_problem(get("/v1/users/u%001/recommendations").await.unwrap(), 422).await;
    assert_eq!(p["field"], "user_id", "{p}");
    let p = expect_problem(get("/v1/models?kind=a%00b").await.unwrap(), 422).await;
    assert_eq!(p["field"], "kind", "{p}");
    let res = c
        .post(srv.url("/v1/jobs"))
        .bearer_auth(&admin)
        .json(&json!({ "kind": "sweep_lake", "idempotency_key": "a\u{0}b" }))
        .send()
        .await
        .unwrap();
    let p = expect_problem(res, 422).await;
    assert_eq!(p["field"], "idempotency_key", "{p}");

    // Events: the bad one is refused with its field, the good one is taken.
    let res = srv
        .post_as(
            "/v1/events",
            &admin,
            &json!({ "events": [
                { "event_id": "n1", "user_id": "a\u{0}b", "item_id": "i", "event_type": "view",
                  "ts": "2026-01-01T00:00:00Z" },
                { "event_id": "n2", "user_id": "ab", "item_id": "i", "event_type": "view",
                  "ts": "2026-01-01T00:00:00Z" },
            ]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["errors"][0]["field"], "user_id", "{body}");

    // A time before plausible_since is refused by name too.
    let res = srv
        .post_as(
            "/v1/events",
            &admin,
            &json!({ "events": [
                { "event_id": "n3", "user_id": "ab", "item_id": "i", "event_type": "view",
                  "ts": "0000-01-01T00:00:00Z" },
            ]}),
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "ts", "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("plausible_since")
    );
    srv.stop().await;
}

/// The key is checked before anything about the request: an unknown key with a bad body is a
/// 401, a reader on an admin route with a bad body a 403, never a 422 that lists fields.
#[tokio::test]
async fn authentication_and_roles_come_before_body_validation() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let reader = srv.key(Role::Reader).await;
    let bad = json!({ "kind": 5, "priority": "high" });
    for _ in 0..20 {
        let res = srv.post_as("/v1/jobs", "rk_unknown_key", &bad).await;
        expect_problem(res, 401).await;
        let res = srv
            .post_as("/v1/keys", &reader, &json!({ "role": 7 }))
            .await;
        expect_problem(res, 403).await;
        let res = srv
            .client
            .get(srv.url("/v1/forecasts/a%00b"))
            .send()
            .await
            .unwrap();
        expect_problem(res, 401).await;
    }
    srv.stop().await;
}

/// One key cannot hold more than `max_concurrent_per_key` requests: the rest get 429 with
/// `Retry-After`, and another key is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_concurrency_bound_gets_429_with_retry_after() {
    let mut env = TestEnv::new().await;
    env.settings.max_concurrent_per_key = 1;
    let srv = TestServer::start(env).await;
    let busy = srv.key(Role::Reader).await;
    let other = srv.key(Role::Reader).await;
    let calls = (0..64).map(|_| srv.get_as("/v1/jobs?limit=200", &busy));
    let answers = futures::future::join_all(calls).await;
    let mut limited = 0;
    for res in answers {
        match res.status().as_u16() {
            200 => {}
            429 => {
                assert_eq!(res.headers()["retry-after"], "1");
                let p = expect_problem(res, 429).await;
                assert!(
                    p["detail"]
                        .as_str()
                        .unwrap()
                        .contains("max_concurrent_per_key")
                );
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited > 0, "64 concurrent requests never overlapped");
    assert_eq!(srv.get_as("/v1/jobs", &other).await.status(), 200);
    assert_eq!(
        srv.get_as("/v1/jobs", &busy).await.status(),
        200,
        "released"
    );
    srv.stop().await;
}

/// CORS: configured origins get the headers (preflight included); others and a deployment
/// without origins get none.
#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let mut env = TestEnv::new().await;
    env.settings.cors_origins = vec!["https://shop.example".into()];
    let srv = TestServer::start(env).await;
    let preflight = |origin: &'static str| {
        srv.client
            .request(reqwest::Method::OPTIONS, srv.url("/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let res = preflight("https://shop.example").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    srv.stop().await;

    let srv = TestServer::start(TestEnv::new().await).await;
    let res = srv
        .client
        .get(srv.url("/healthz"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    srv.stop().await;
}

/// Every key-protected operation declares 401, 403 and 429; every body 400, 413 and 415;
/// documented limits are in the schemas; a documented path with another method is a 405.
#[tokio::test]
async fn the_document_declares_every_answer_and_undeclared_methods_are_405() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let doc: serde_json::Value =
        serde_json::from_str(&srv.get_text("/openapi.json").await).unwrap();
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if op.get("security").is_some() {
                secured += 1;
                for code in ["401", "403", "429"] {
                    assert!(responses.contains_key(code), "{method} {path} lacks {code}");
                }
            }
            if op.get("requestBody").is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(code), "{method} {path} lacks {code}");
                }
            }
        }
    }
    assert!(secured > 20, "{secured}");
    let k = doc["paths"]["/v1/users/{user_id}/recommendations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "k")
        .unwrap()
        .clone();
    assert_eq!(
        (
            k["schema"]["minimum"].as_i64(),
            k["schema"]["maximum"].as_i64()
        ),
        (Some(1), Some(500))
    );

    let admin = srv.key(Role::Admin).await;
    let res = srv
        .client
        .delete(srv.url("/v1/jobs"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405, "{:?}", res.headers());
    let allow = res.headers()["allow"].to_str().unwrap().to_string();
    let p = expect_problem(res, 405).await;
    assert_eq!(allow, "GET, POST", "{p}");
    let res = srv
        .client
        .get(srv.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404).await;
    srv.stop().await;
}

/// Frontends write catalogue items and users between ETL runs: each write is one committed
/// row of the lake dataset (the newest row per id wins for training), checked by the same
/// rules as a pipeline row; readers may not write.
#[tokio::test]
async fn items_and_users_are_upserted_into_the_lake_through_the_api() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let ingest = srv.key(Role::Ingest).await;
    let reader = srv.key(Role::Reader).await;
    let put = |path: &str, key: &str, body: serde_json::Value| {
        srv.client
            .put(srv.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let lamp = json!({"title": "Lamp", "category": "home", "price": 12.5, "tags": ["a", "b"]});
    let res = put("/v1/items/i-new", &ingest, lamp.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let first: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (first["id"].as_str(), first["dataset"].as_str()),
        (Some("i-new"), Some("items"))
    );
    assert!(first["commit_id"].as_i64().is_some(), "{first}");
    let items = recast::recommend::data::read_items(&srv.app.lake)
        .await
        .unwrap();
    let item = items.iter().find(|i| i.item_id == "i-new").expect("landed");
    assert_eq!((item.title.as_str(), item.active), ("Lamp", true));
    assert_eq!(item.tags, ["a", "b"]);
    assert_eq!(item.price, Some(12.5));

    // The newest write wins.
    let res = put(
        "/v1/items/i-new",
        &ingest,
        json!({"title": "Lamp", "active": false}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let items = recast::recommend::data::read_items(&srv.app.lake)
        .await
        .unwrap();
    let item = items.iter().find(|i| i.item_id == "i-new").unwrap();
    assert!(!item.active, "{item:?}");

    // Refused values name their field and land nothing.
    for (body, field) in [
        (json!({"title": "Lamp", "price": -1}), "price"),
        (json!({"title": ""}), "title"),
        (json!({"title": "  "}), "title"),
        (json!({"title": "a\u{0}b"}), "title"),
    ] {
        let res = put("/v1/items/i-bad", &ingest, body).await.unwrap();
        let problem = expect_problem(res, 422).await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    let items = recast::recommend::data::read_items(&srv.app.lake)
        .await
        .unwrap();
    assert!(items.iter().all(|i| i.item_id != "i-bad"));
    let res = put("/v1/items/i-new", &reader, lamp).await.unwrap();
    expect_problem(res, 403).await;

    // A struct's fields as an array are not an object.
    let res = put("/v1/users/u-new", &ingest, json!([null, null]))
        .await
        .unwrap();
    expect_problem(res, 422).await;
    let signup = json!({"created_at": "2024-03-01T10:00:00Z", "segment": "vip", "region": "EU"});
    let res = put("/v1/users/u-new", &ingest, signup).await.unwrap();
    assert_eq!(res.status(), 200);
    let user: serde_json::Value = res.json().await.unwrap();
    assert_eq!(user["dataset"], "users", "{user}");
    // An update: a new version, the signup time left to the first row.
    let res = put("/v1/users/u-new", &ingest, json!({"segment": "lapsed"}))
        .await
        .unwrap();
    let update: serde_json::Value = res.json().await.unwrap();
    assert!(update["at"].as_str() > user["at"].as_str(), "{update}");
    let future = json!({"created_at": "2999-01-01T00:00:00Z"});
    let res = put("/v1/users/u-late", &ingest, future).await.unwrap();
    let problem = expect_problem(res, 422).await;
    assert_eq!(problem["field"], "created_at", "{problem}");
    let users = srv
        .app
        .lake
        .read_scan(&recast::lake::Scan::dataset("users"))
        .await
        .unwrap();
    assert_eq!(
        crate::common::strings(&users, "user_id"),
        ["u-new", "u-new"]
    );
    // (updated_at, created_at, segment) of each row, oldest version first.
    let mut rows: Vec<_> = crate::common::user_rows(&users)
        .into_iter()
        .map(|u| (u.updated_at, u.created_at, u.segment))
        .collect();
    rows.sort();
    let signed_up = chrono::DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap();
    assert_eq!(rows[0].1, signed_up.timestamp_micros(), "{rows:?}");
    assert!(
        rows[1].1 > rows[0].1,
        "an update's created_at is its own time"
    );
    assert_eq!((rows[0].2.as_str(), rows[1].2.as_str()), ("vip", "lapsed"));
}

/// `compact_dataset` without a dataset (the daily `lake-optimize` schedule) compacts every
/// dataset and reports them as one JSON object; a partition without its dataset is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacting_every_dataset_reports_an_object() {
    let srv = TestServer::start(TestEnv::new().await).await;
    let admin = srv.key(Role::Admin).await;
    let job = srv
        .run_job_as(&admin, &json!({ "kind": "compact_dataset" }))
        .await;
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.last_error);
    let result = job.result.unwrap();
    let datasets = result["datasets"]
        .as_array()
        .expect("an object with datasets");
    assert_eq!(datasets.len(), 4, "{result}");
    assert_eq!(datasets[0]["dataset"], "interactions");
    let res = srv
        .post_as(
            "/v1/jobs",
            &admin,
            &json!({ "kind": "compact_dataset", "payload": { "dt": "2024-01-01" } }),
        )
        .await;
    assert_eq!(res.status(), 422);
    srv.stop().await;
}
