//! The API contract, authentication and ownership, and the per-user limits under concurrency.

mod common;

use common::{Client, fast_config, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_welcome_turns_and_close_with_the_apps_statuses_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(fast_config(dir.path())).await;
    let alice = Client::for_user(&base, "alice");
    let (status, body, _) = alice
        .post("/api/v1/session/start", json!({"user_name": "Alice"}))
        .await;
    assert_eq!(status, 201);
    let id = body["session_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sess_") && id.len() == 21, "{id}");
    assert_eq!(body["status"], "initialized");
    assert_eq!(body["turn_count"], 0);
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    let mut statuses = Vec::new();
    for step in 0..4 {
        let (status, body, _) = alice
            .post(
                &format!("/api/v1/session/{id}/welcome"),
                json!({"user_input": "a spaceship"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mc_welcome_complete"], step == 3);
        statuses.push(body["next_status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses,
        ["mc_welcome", "game_select", "suggestion_phase", "active"]
    );
    let (status, _, _) = alice
        .post(&format!("/api/v1/session/{id}/welcome"), json!({}))
        .await;
    assert_eq!(status, 400, "a fifth welcome call");

    let (status, body) = alice.turn(&id, 1, "Yes, and the ship is sinking").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["turn_number"], 1);
    assert!(!body["partner_response"].as_str().unwrap().is_empty());
    assert!(body["room_vibe"]["mood_metrics"]["sentiment_score"].is_number());
    assert_eq!(body["current_phase"], "Phase 1 (Supportive)");
    assert!(body["coach_feedback"].is_null());

    let (status, body) = alice.turn(&id, 3, "skipping").await;
    assert_eq!(
        (status, body["detail"].as_str().unwrap()),
        (400, "Expected turn 2, got 3")
    );
    let (status, _) = alice.turn(&id, 2, "").await;
    assert_eq!(status, 422, "empty input");
    let (status, _) = alice.turn(&id, 2, &"x".repeat(1001)).await;
    assert_eq!(status, 422, "1001 characters");
    let (status, _) = alice.turn(&id, 2, &"é".repeat(1000)).await;
    assert_eq!(
        status, 200,
        "1000 characters, counted as characters not bytes"
    );
    for n in 3..=5 {
        let (status, body) = alice.turn(&id, n, "and then").await;
        assert_eq!(status, 200, "{body}");
        if n == 5 {
            assert!(body["coach_feedback"].is_string(), "the Coach joins turn 5");
            assert_eq!(body["current_phase"], "Phase 2 (Fallible)");
        }
    }

    let (status, body) = alice.get(&format!("/api/v1/session/{id}")).await;
    assert_eq!(
        (status, body["turn_count"].as_u64(), body["status"].as_str()),
        (200, Some(5), Some("active"))
    );
    let (status, body) = alice.get("/api/v1/user/limits").await;
    assert_eq!(status, 200);
    assert_eq!(body["limits"]["daily_sessions"]["used"], 1);
    assert_eq!(
        body["limits"]["concurrent_sessions"]["active_session_ids"],
        json!([id])
    );
    let (status, body, _) = alice
        .post(&format!("/api/v1/session/{id}/close"), json!({}))
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "closed", "session_id": id}))
    );
    let (_, body) = alice.get("/api/v1/user/limits").await;
    assert_eq!(body["limits"]["concurrent_sessions"]["active"], 0);
    let (status, _) = alice.get("/api/v1/session/sess_0000000000000000").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_get_401_and_another_users_session_403() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(fast_config(dir.path())).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let bare = http
        .post(format!("{base}/api/v1/session/start"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let forged = Client::new(&base, "alice", "not-the-server-secret");
    assert_eq!(forged.post("/api/v1/session/start", json!({})).await.0, 401);
    let garbage = http
        .get(format!("{base}/api/v1/user/limits"))
        .bearer_auth("v1.alice.00")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);

    let alice = Client::for_user(&base, "alice");
    let bob = Client::for_user(&base, "bob");
    let id = alice.start_session().await;
    assert_eq!(bob.get(&format!("/api/v1/session/{id}")).await.0, 403);
    assert_eq!(bob.turn(&id, 1, "hijack").await.0, 403);
    assert_eq!(
        bob.post(&format!("/api/v1/session/{id}/close"), json!({}))
            .await
            .0,
        403
    );
    assert_eq!(alice.get(&format!("/api/v1/session/{id}")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_starts_admit_exactly_three_and_the_rest_get_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.limits.daily_sessions = 100;
    let base = start(config).await;
    let starts = (0..50).map(|_| {
        let carol = Client::for_user(&base, "carol");
        tokio::spawn(async move { carol.post("/api/v1/session/start", json!({})).await })
    });
    let mut created = 0;
    for start in starts.collect::<Vec<_>>() {
        let (status, _, headers) = start.await.unwrap();
        match status {
            201 => created += 1,
            429 => assert_eq!(headers["retry-after"], "3600"),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 3);
    let (_, body) = Client::for_user(&base, "carol")
        .get("/api/v1/user/limits")
        .await;
    assert_eq!(body["limits"]["concurrent_sessions"]["active"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_session_of_a_day_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(fast_config(dir.path())).await;
    let dave = Client::for_user(&base, "dave");
    for _ in 0..10 {
        let id = dave.start_session().await;
        assert_eq!(
            dave.post(&format!("/api/v1/session/{id}/close"), json!({}))
                .await
                .0,
            200
        );
    }
    let (status, body, headers) = dave.post("/api/v1/session/start", json!({})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (429, Some("Daily session limit reached"))
    );
    assert_eq!(headers["retry-after"], "3600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_queues_requests_and_answers_429_past_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.server.max_concurrency = 1;
    config.server.queue_deadline_ms = 20;
    config.llm.simulated.base_median_ms = 600.0;
    config.llm.simulated.base_sigma = 0.0;
    let base = start(config).await;
    let erin = Client::for_user(&base, "erin");
    let first = erin.start_session().await;
    let slow = {
        let erin = Client::for_user(&base, "erin");
        tokio::spawn(async move {
            erin.post(&format!("/api/v1/session/{first}/welcome"), json!({}))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body, headers) = erin.post("/api/v1/session/start", json!({})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(slow.await.unwrap().0, 200);
}
