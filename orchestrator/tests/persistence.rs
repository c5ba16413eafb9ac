//! Persistence: after a load run every turn the driver saw succeed is in the database; after a
//! SIGKILL of the service mid-load and a restart, no acknowledged turn is lost. The CSV files the
//! driver writes have Locust's columns.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, fast_config, start};
use orchestrator::load::{LoadOptions, TaskWeights, run};

fn stored_turns(db: &Path) -> BTreeSet<(String, u32)> {
    let db = rusqlite::Connection::open(db).unwrap();
    let mut stmt = db
        .prepare("SELECT session_id, turn_number FROM turns")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn options(base: &str, dir: &Path) -> LoadOptions {
    LoadOptions {
        host: base.to_string(),
        users: 6,
        spawn_rate: 100.0,
        run_time: Duration::from_millis(2500),
        max_requests: Some(2000),
        think_min: Duration::from_millis(0),
        think_max: Duration::from_millis(3),
        turns: 4,
        weights: TaskWeights {
            session: 8,
            limits: 1,
            health: 1,
        },
        secret: orchestrator::config::Config::default().auth.secret,
        csv_prefix: Some(dir.join("run")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_load_run_every_acknowledged_turn_is_stored_and_the_csv_files_are_locusts() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(fast_config(dir.path())).await;
    let report = run(options(&base, dir.path())).await.unwrap();
    assert!(
        report.acknowledged_turns.len() >= 4,
        "{}",
        report.acknowledged_turns.len()
    );
    let stored = stored_turns(&dir.path().join("orchestrator.db"));
    for turn in &report.acknowledged_turns {
        assert!(stored.contains(turn), "acknowledged {turn:?} is not stored");
    }
    assert_eq!(report.stats.total().num_failures(), 0);
    let turns = report
        .stats
        .entry("POST", "/api/v1/session/[id]/turn")
        .unwrap();
    assert_eq!(turns.num_requests(), report.acknowledged_turns.len() as u64);

    let stats = std::fs::read_to_string(dir.path().join("run_stats.csv")).unwrap();
    let header = stats.lines().next().unwrap();
    assert_eq!(header, locust_csv::stats_columns().join(","));
    assert!(stats.lines().last().unwrap().starts_with(",Aggregated,"));
    let history = std::fs::read_to_string(dir.path().join("run_stats_history.csv")).unwrap();
    assert_eq!(
        history.lines().next().unwrap(),
        locust_csv::stats_history_columns().join(",")
    );
    assert!(history.lines().count() >= 2);
    let failures = std::fs::read_to_string(dir.path().join("run_failures.csv")).unwrap();
    assert_eq!(failures, "Method,Name,Error,Occurrences\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_refuses_a_non_loopback_target() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(options("http://192.168.1.10:8080", dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("loopback"), "{err}");
}

/// Starts the binary on a free port with `config`; the child and its base URL.
fn spawn_service(config: &Path, db: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(["serve", "--port", "0", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_load_loses_no_acknowledged_turn() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fast.yaml");
    std::fs::write(&config, "llm:\n  simulated:\n    base_median_ms: 3\n    per_output_token_ms: 0\n    cpu_ms_per_call: 0.2\n").unwrap();
    let db = dir.path().join("o.db");
    let (mut child, base) = spawn_service(&config, &db);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let users: Vec<_> = (0..4)
        .map(|u| {
            let (base, acknowledged) = (base.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let client = Client::for_user(&base, &format!("kill-{u}"));
                let id = client.start_session().await;
                for n in 1.. {
                    let body = serde_json::json!({"user_input": "on", "turn_number": n});
                    let sent = client
                        .http
                        .post(format!("{base}/api/v1/session/{id}/turn"))
                        .bearer_auth(&client.token)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            acknowledged.lock().unwrap().push((id.clone(), n))
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for user in users {
        user.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let (mut restarted, base) = spawn_service(&config, &db);
    let stored = stored_turns(&db);
    for turn in &acknowledged {
        assert!(stored.contains(turn), "acknowledged {turn:?} was lost");
    }
    let (id, _) = &acknowledged[0];
    let (status, body) = Client::for_user(&base, "kill-0")
        .get(&format!("/api/v1/session/{id}"))
        .await;
    let owner_or_other = if status == 403 {
        0
    } else {
        body["turn_count"].as_u64().unwrap()
    };
    assert!(
        status == 403 || owner_or_other >= 1,
        "the restarted service serves the stored session"
    );
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
