//! Assembles the service from a [`Config`]: the datastore, the LLM backend (Gemini when an API key
//! is configured, simulated otherwise), the agents, the routes and the instance front; and serves
//! it on a loopback listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::agents::Agents;
use crate::api::{self, AppState};
use crate::auth::TokenSigner;
use crate::config::Config;
use crate::front::{Front, front};
use crate::llm::LlmBackend;
use crate::llm::gemini::GeminiLlm;
use crate::llm::simulated::SimulatedLlm;
use crate::store::SqliteStore;
use crate::trace::TraceSink;

/// The backend `config` asks for.
pub fn backend(config: &Config) -> Arc<dyn LlmBackend> {
    match &config.llm.gemini.api_key {
        Some(key) => Arc::new(GeminiLlm::new(&config.llm.gemini.base_url, key)),
        None => Arc::new(SimulatedLlm::new(config.llm.simulated.clone())),
    }
}

/// The whole service as a router.
pub fn router(config: Config) -> anyhow::Result<Router> {
    let config = Arc::new(config);
    let store =
        Arc::new(SqliteStore::open(&config.store.path).with_context(|| {
            format!("cannot open the database {}", config.store.path.display())
        })?);
    let sink = match &config.trace.path {
        Some(path) => Some(
            TraceSink::open(path)
                .with_context(|| format!("cannot open the trace file {}", path.display()))?,
        ),
        None => None,
    };
    let agents = Arc::new(Agents::new(config.clone(), backend(&config), store.clone()));
    let front_state = Arc::new(Front::new(
        config.server.max_concurrency,
        Duration::from_millis(config.server.queue_deadline_ms),
        sink,
    ));
    let signer = TokenSigner::new(&config.auth.secret);
    let state = AppState {
        config,
        store,
        agents,
        signer,
    };
    Ok(Router::new()
        .route("/api/v1/session/start", post(api::start_session))
        .route("/api/v1/session/{id}", get(api::get_session))
        .route("/api/v1/session/{id}/welcome", post(api::welcome))
        .route("/api/v1/session/{id}/turn", post(api::turn))
        .route("/api/v1/session/{id}/close", post(api::close))
        .route("/api/v1/user/limits", get(api::user_limits))
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(front_state, front)))
}

/// Binds 127.0.0.1:`config.server.port`.
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let address = ("127.0.0.1", config.server.port);
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", config.server.port))
}

/// Serves `config` on `listener` until Ctrl-C.
pub async fn serve(config: Config, listener: TcpListener) -> anyhow::Result<()> {
    let app = router(config)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server failed")
}
