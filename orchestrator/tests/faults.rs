//! Fault injection: LLM 429s, 5xx and timeouts give the app's statuses (500, 500, 504) and leave
//! the session as it was, so the same turn can be sent again.

mod common;

use common::{Client, fast_config, start};
use orchestrator::config::Config;

async fn failing_turn(config: Config) -> (u16, Client, String) {
    let base = start(config).await;
    let frank = Client::for_user(&base, "frank");
    let id = frank.start_session().await;
    let (status, _) = frank.turn(&id, 1, "hello").await;
    (status, frank, id)
}

async fn assert_unchanged(client: &Client, id: &str) {
    let (status, body) = client.get(&format!("/api/v1/session/{id}")).await;
    assert_eq!(
        (status, body["turn_count"].as_u64()),
        (200, Some(0)),
        "a failed turn leaves no trace in the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_429_after_the_retries_is_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.simulated.rate_limited_rate = 1.0;
    let (status, client, id) = failing_turn(config).await;
    assert_eq!(status, 500);
    assert_unchanged(&client, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_5xx_after_the_retries_is_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.simulated.server_error_rate = 1.0;
    let (status, client, id) = failing_turn(config).await;
    assert_eq!(status, 500);
    assert_unchanged(&client, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_attempts_that_time_out_are_a_504() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.simulated.timeout_rate = 1.0;
    config.llm.attempt_timeout_ms = 30;
    config.llm.max_attempts = 2;
    let (status, client, id) = failing_turn(config).await;
    assert_eq!(status, 504);
    assert_unchanged(&client, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_timeout_is_a_504() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.simulated.timeout_rate = 1.0;
    config.agents.timeout_ms = 80;
    let (status, client, id) = failing_turn(config).await;
    assert_eq!(status, 504);
    assert_unchanged(&client, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_intermittent_faults_every_acknowledged_turn_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.simulated.server_error_rate = 0.3;
    config.llm.simulated.rate_limited_rate = 0.2;
    config.llm.max_attempts = 1;
    let base = start(config).await;
    let grace = Client::for_user(&base, "grace");
    let id = grace.start_session().await;
    let (mut acknowledged, mut failed) = (0, 0);
    for _ in 0..60 {
        let (status, _) = grace.turn(&id, acknowledged + 1, "again").await;
        match status {
            200 => acknowledged += 1,
            500 => failed += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        acknowledged > 0 && failed > 0,
        "{acknowledged} acknowledged, {failed} failed"
    );
    let (_, body) = grace.get(&format!("/api/v1/session/{id}")).await;
    assert_eq!(body["turn_count"].as_u64(), Some(u64::from(acknowledged)));
    let db = rusqlite::Connection::open(dir.path().join("orchestrator.db")).unwrap();
    let stored: Vec<u32> = db
        .prepare("SELECT turn_number FROM turns WHERE session_id = ?1 ORDER BY turn_number")
        .unwrap()
        .query_map([&id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, (1..=acknowledged).collect::<Vec<_>>());
}
