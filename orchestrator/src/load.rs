//! The load driver: closed-loop virtual users like Locust's. `users` users are spawned at
//! `spawn_rate` per second; each loops, until the run time is over or the request budget is
//! spent, over tasks drawn by weight: `session` (start, the four MC welcome calls, `turns`
//! turns, close), `limits` (`GET /api/v1/user/limits`) and `health` (`GET /health`), waiting
//! a think time drawn uniformly from [think_min, think_max] after every request. Each session
//! belongs to a fresh user, so the per-user limits do not throttle the driver. Client-side
//! latency per request kind goes into Locust's statistics, written as Locust's CSV files.
//! Only loopback targets are accepted.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use locust_csv::RequestStats;
use rand::RngExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::auth::TokenSigner;

/// The most users a run may have.
pub const MAX_USERS: u64 = 1000;
/// The longest run.
pub const MAX_RUN_TIME: Duration = Duration::from_secs(3600);

/// What to run (also the `orchestrator load` options).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    /// Base URL of the service, loopback only.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub host: String,
    /// Virtual users.
    #[arg(long, default_value_t = 10)]
    pub users: u64,
    /// Users started per second.
    #[arg(long, default_value_t = 1.0)]
    pub spawn_rate: f64,
    /// How long the run lasts, e.g. 60s or 5m.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub run_time: Duration,
    /// Stop after this many requests in all (none: only the run time bounds it).
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Shortest think time after a request, e.g. 1s.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub think_min: Duration,
    /// Longest think time after a request.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub think_max: Duration,
    /// Turns per session.
    #[arg(long, default_value_t = 15)]
    pub turns: u32,
    /// Task weights, e.g. session=9,limits=1,health=0.
    #[arg(long = "mix", default_value = "session=9,limits=1")]
    pub weights: TaskWeights,
    /// The server secret, to sign the users' tokens (from the service's configuration).
    #[arg(skip = crate::config::AuthConfig::default().secret)]
    pub secret: String,
    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv and PREFIX_failures.csv.
    #[arg(long = "csv")]
    pub csv_prefix: Option<PathBuf>,
}

/// Relative weights of the tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskWeights {
    /// A whole session.
    pub session: u32,
    /// A limits read.
    pub limits: u32,
    /// A health check.
    pub health: u32,
}

impl std::str::FromStr for TaskWeights {
    type Err = String;

    /// Parses `session=9,limits=1,health=0` (tasks not named weigh 0).
    fn from_str(text: &str) -> Result<Self, String> {
        let mut weights = TaskWeights {
            session: 0,
            limits: 0,
            health: 0,
        };
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (task, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected TASK=WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the weight must be a whole number"))?;
            match task.trim() {
                "session" => weights.session = weight,
                "limits" => weights.limits = weight,
                "health" => weights.health = weight,
                other => {
                    return Err(format!(
                        "unknown task `{other}` (tasks: session, limits, health)"
                    ));
                }
            }
        }
        if weights.session + weights.limits + weights.health == 0 {
            return Err("at least one task needs a weight above 0".to_string());
        }
        Ok(weights)
    }
}

/// What a run saw.
#[derive(Debug)]
pub struct LoadReport {
    /// Locust's statistics of every request.
    pub stats: RequestStats,
    /// Every (session id, turn number) the service answered 200.
    pub acknowledged_turns: Vec<(String, u32)>,
}

/// Refuses any target that is not on the loopback interface.
pub fn check_loopback(host: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(host).with_context(|| format!("--host `{host}` is not a URL"))?;
    let host_name = url.host_str().unwrap_or("");
    let bare = host_name.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host_name == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--host `{host}`: the load driver only targets loopback addresses (127.0.0.0/8, ::1, localhost)"
        );
    }
    Ok(url)
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Shared by the users of a run.
struct Run {
    options: LoadOptions,
    base: String,
    http: reqwest::Client,
    signer: TokenSigner,
    stats: Mutex<RequestStats>,
    acknowledged: Mutex<Vec<(String, u32)>>,
    requests: AtomicU64,
    deadline: Instant,
    nonce: String,
}

/// Why a user stops.
struct Stop;

impl Run {
    fn over(&self) -> bool {
        Instant::now() >= self.deadline
            || self
                .options
                .max_requests
                .is_some_and(|max| self.requests.load(Ordering::SeqCst) >= max)
    }

    /// Sends one request, logs it under `name`, and thinks; the body if it succeeded.
    async fn request(
        &self,
        method: &str,
        path: &str,
        name: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>, Stop> {
        if self.over() {
            return Err(Stop);
        }
        if let Some(max) = self.options.max_requests
            && self.requests.fetch_add(1, Ordering::SeqCst) >= max
        {
            return Err(Stop);
        }
        let url = format!("{}{path}", self.base);
        let builder = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url).json(&body.unwrap_or(Value::Null)),
        };
        let started = Instant::now();
        let outcome = builder.bearer_auth(token).send().await;
        let (result, length, error) = match outcome {
            Ok(response) => {
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                let error = (!status.is_success()).then(|| http_error(status, name));
                (
                    serde_json::from_slice::<Value>(&bytes).ok(),
                    bytes.len() as u64,
                    error,
                )
            }
            Err(e) => (None, 0, Some(format!("ConnectionError('{e}')"))),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let at = now_s();
        {
            let mut stats = self.stats.lock().await;
            stats.log_request(method, name, at, elapsed_ms, length);
            if let Some(error) = &error {
                stats.log_error(method, name, at, error);
            }
        }
        self.think().await;
        Ok(if error.is_none() {
            Some(result.unwrap_or(Value::Null))
        } else {
            None
        })
    }

    async fn think(&self) {
        let (min, max) = (
            self.options.think_min,
            self.options.think_max.max(self.options.think_min),
        );
        let pause = if max > min {
            rand::rng().random_range(min..=max)
        } else {
            min
        };
        tokio::time::sleep(pause.min(self.deadline.saturating_duration_since(Instant::now())))
            .await;
    }

    async fn session(&self, user: &str) -> Result<(), Stop> {
        let token = self.signer.sign(user).expect("driver user ids are valid");
        let started = self
            .request(
                "POST",
                "/api/v1/session/start",
                "/api/v1/session/start",
                &token,
                Some(json!({"user_name": user})),
            )
            .await?;
        let Some(id) = started
            .as_ref()
            .and_then(|b| b["session_id"].as_str())
            .map(str::to_string)
        else {
            return Ok(());
        };
        for _ in 0..4 {
            let welcome = format!("/api/v1/session/{id}/welcome");
            let body = json!({"user_input": "a lighthouse"});
            if self
                .request(
                    "POST",
                    &welcome,
                    "/api/v1/session/[id]/welcome",
                    &token,
                    Some(body),
                )
                .await?
                .is_none()
            {
                break;
            }
        }
        for n in 1..=self.options.turns {
            let body = json!({"user_input": format!("Yes, and turn {n} brings a twist"), "turn_number": n});
            let answer = self
                .request(
                    "POST",
                    &format!("/api/v1/session/{id}/turn"),
                    "/api/v1/session/[id]/turn",
                    &token,
                    Some(body),
                )
                .await?;
            if answer.is_none() {
                break;
            }
            self.acknowledged.lock().await.push((id.clone(), n));
        }
        self.request(
            "POST",
            &format!("/api/v1/session/{id}/close"),
            "/api/v1/session/[id]/close",
            &token,
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    async fn user(self: Arc<Self>, index: u64) {
        let weights = self.options.weights;
        let total = weights.session + weights.limits + weights.health;
        for iteration in 0u64.. {
            let user = format!("load-{}-u{index}-s{iteration}", self.nonce);
            let token = self.signer.sign(&user).expect("driver user ids are valid");
            let pick = rand::rng().random_range(0..total);
            let done = if pick < weights.session {
                self.session(&user).await
            } else if pick < weights.session + weights.limits {
                self.request(
                    "GET",
                    "/api/v1/user/limits",
                    "/api/v1/user/limits",
                    &token,
                    None,
                )
                .await
                .map(drop)
            } else {
                self.request("GET", "/health", "/health", &token, None)
                    .await
                    .map(drop)
            };
            if done.is_err() || self.over() {
                return;
            }
        }
    }
}

/// The error text of a failed HTTP answer, as Locust reports requests' `HTTPError`.
fn http_error(status: reqwest::StatusCode, name: &str) -> String {
    let kind = if status.is_server_error() {
        "Server Error"
    } else {
        "Client Error"
    };
    let reason = status.canonical_reason().unwrap_or("");
    format!(
        "HTTPError('{} {kind}: {reason} for url: {name}')",
        status.as_u16()
    )
}

/// Runs the load, writing the CSV files if asked; what it saw.
pub async fn run(options: LoadOptions) -> anyhow::Result<LoadReport> {
    let url = check_loopback(&options.host)?;
    if options.users == 0 || options.users > MAX_USERS {
        bail!("--users must be 1-{MAX_USERS}, got {}", options.users);
    }
    if !(options.spawn_rate > 0.0 && options.spawn_rate.is_finite()) {
        bail!("--spawn-rate must be above 0, got {}", options.spawn_rate);
    }
    if options.run_time.is_zero() || options.run_time > MAX_RUN_TIME {
        bail!(
            "--run-time must be above 0 and at most {}s",
            MAX_RUN_TIME.as_secs()
        );
    }
    let start = now_s();
    let nonce: [u8; 4] = rand::rng().random();
    let run = Arc::new(Run {
        base: url.as_str().trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        signer: TokenSigner::new(&options.secret),
        stats: Mutex::new(RequestStats::new(start)),
        acknowledged: Mutex::new(Vec::new()),
        requests: AtomicU64::new(0),
        deadline: Instant::now() + options.run_time,
        nonce: hex::encode(nonce),
        options,
    });
    let history = run.options.csv_prefix.clone().map(|prefix| {
        let run = run.clone();
        tokio::spawn(async move { write_history(&run, &prefix).await })
    });
    let mut users = Vec::new();
    let spawn_interval = Duration::from_secs_f64(1.0 / run.options.spawn_rate);
    for index in 0..run.options.users {
        if run.over() {
            break;
        }
        users.push(tokio::spawn(run.clone().user(index)));
        if index + 1 < run.options.users {
            tokio::time::sleep(spawn_interval).await;
        }
    }
    for user in users {
        user.await.context("a virtual user panicked")?;
    }
    if let Some(history) = history {
        history.abort();
        let _ = history.await;
    }
    let stats = run.stats.lock().await.clone();
    if let Some(prefix) = &run.options.csv_prefix {
        let prefix = prefix.display().to_string();
        let mut history =
            std::fs::read_to_string(format!("{prefix}_stats_history.csv")).unwrap_or_default();
        if history.is_empty() {
            history = RequestStats::stats_history_header();
        }
        history.push_str(&stats.stats_history_row(now_s(), 0));
        for (suffix, text) in [
            ("_stats.csv", stats.stats_csv()),
            ("_stats_history.csv", history),
            ("_failures.csv", stats.failures_csv()),
        ] {
            locust_csv::write_file(&prefix, suffix, &text)
                .with_context(|| format!("cannot write {prefix}{suffix}"))?;
        }
    }
    let acknowledged_turns = run.acknowledged.lock().await.clone();
    Ok(LoadReport {
        stats,
        acknowledged_turns,
    })
}

/// Appends an `Aggregated` history row every second, as Locust does.
async fn write_history(run: &Run, prefix: &std::path::Path) {
    let path = format!("{}_stats_history.csv", prefix.display());
    let mut text = RequestStats::stats_history_header();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let users = run.options.users;
        text.push_str(&run.stats.lock().await.stats_history_row(now_s(), users));
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("orchestrator load: cannot write {path}: {e}");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://localhost:1").is_ok());
        assert!(check_loopback("http://[::1]:1").is_ok());
        let err = check_loopback("http://10.0.0.1:8080")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
        assert!(check_loopback("http://example.com").is_err());
    }

    #[test]
    fn task_weights_parse_and_refuse_unknown_tasks() {
        assert_eq!(
            "session=9,limits=1".parse(),
            Ok(TaskWeights {
                session: 9,
                limits: 1,
                health: 0
            })
        );
        assert!(
            "sesion=1"
                .parse::<TaskWeights>()
                .unwrap_err()
                .contains("unknown task")
        );
        assert!("session=0".parse::<TaskWeights>().is_err());
    }
}
