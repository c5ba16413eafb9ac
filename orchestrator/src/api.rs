//! The app's HTTP API (`app/routers/sessions.py`, `health.py`): request and response bodies,
//! authentication, the per-user limits, and the handlers with the app's status codes and its
//! datastore reads and writes per request.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agents::{AgentError, Agents, phase};
use crate::auth::TokenSigner;
use crate::config::Config;
use crate::llm::LlmError;
use crate::store::{SessionRecord, Store, StoreError, TurnRecord, traced};
use crate::time::{now_ms, rfc3339};
use crate::trace::SpanCtx;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The datastore.
    pub store: Arc<dyn Store>,
    /// The agents.
    pub agents: Arc<Agents>,
    /// The bearer-token signer.
    pub signer: TokenSigner,
}

/// An error answer: a status and FastAPI's `{"detail": ...}` body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    retry_after_s: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after_s: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("datastore error: {error}"),
        )
    }
}

impl From<AgentError> for ApiError {
    fn from(error: AgentError) -> Self {
        match error {
            AgentError::Llm(LlmError::Timeout) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "Agent timed out")
            }
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Agent failed: {other}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"detail": self.detail}))).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The authenticated user, from `Authorization: Bearer TOKEN`; 401 without a valid token.
pub struct AuthUser(pub String);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Missing bearer token"))?;
        let user = state
            .signer
            .verify(token.trim())
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Invalid token"))?;
        Ok(AuthUser(user))
    }
}

/// The request's handler span, put there by the front (a detached one if absent).
pub struct Span(pub SpanCtx);

impl<S: Send + Sync> FromRequestParts<S> for Span {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Span(
            parts
                .extensions
                .get::<SpanCtx>()
                .cloned()
                .unwrap_or_else(|| crate::trace::TraceRecorder::new().root()),
        ))
    }
}

/// Parses a JSON body (an empty one as `T::default()`), 422 with serde's message otherwise.
fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid body: {e}"),
        )
    })
}

/// `SessionCreate`.
#[derive(Debug, Default, Deserialize)]
pub struct SessionCreate {
    /// Display name.
    pub user_name: Option<String>,
    /// Pre-selected game id.
    pub selected_game_id: Option<String>,
    /// Pre-selected game name.
    pub selected_game_name: Option<String>,
}

/// `SessionResponse`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionResponse {
    /// `sess_` + 16 hex.
    pub session_id: String,
    /// Status.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Turns completed.
    pub turn_count: u32,
}

impl From<&SessionRecord> for SessionResponse {
    fn from(s: &SessionRecord) -> Self {
        Self {
            session_id: s.session_id.clone(),
            status: s.status.clone(),
            created_at: rfc3339(s.created_at_ms),
            expires_at: rfc3339(s.expires_at_ms),
            turn_count: s.turn_count,
        }
    }
}

/// `TurnInput`: validated as pydantic does (422).
#[derive(Debug, Default, Deserialize)]
pub struct TurnInput {
    /// 1-1000 characters.
    pub user_input: String,
    /// Must be the stored turn count + 1.
    pub turn_number: u32,
}

/// The welcome body: `{user_input?: str <= 500}`.
#[derive(Debug, Default, Deserialize)]
pub struct WelcomeInput {
    /// What the user said to the MC.
    pub user_input: Option<String>,
}

fn new_session_id() -> String {
    use rand::RngExt;
    let bytes: [u8; 8] = rand::rng().random();
    format!("sess_{}", hex::encode(bytes))
}

fn limit_error(detail: &str, retry_after_s: u64) -> ApiError {
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        detail: detail.to_string(),
        retry_after_s: Some(retry_after_s),
    }
}

/// `POST /api/v1/session/start`: daily limit, create, concurrent limit (closing the new session
/// if that fails), in the app's order.
pub async fn start_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
    body: Bytes,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let input: SessionCreate = parse_body(&body)?;
    let limits = &state.config.limits;
    let now = now_ms();
    let store = &state.store;
    if traced(&ctx, "reserve_daily_session", || {
        store.reserve_daily(&user, now, limits.daily_sessions)
    })?
    .is_err()
    {
        return Err(limit_error(
            "Daily session limit reached",
            limits.retry_after_s,
        ));
    }
    let preselected = input.selected_game_id.is_some() && input.selected_game_name.is_some();
    let mut session = SessionRecord {
        session_id: new_session_id(),
        user_id: user.clone(),
        user_name: input.user_name,
        status: if preselected {
            "game_select"
        } else {
            "initialized"
        }
        .to_string(),
        created_at_ms: now,
        updated_at_ms: now,
        expires_at_ms: now + (limits.session_timeout_minutes * 60_000) as i64,
        turn_count: 0,
        current_phase: phase(1).to_string(),
        selected_game: input.selected_game_name,
        audience_suggestion: None,
        mc_step: 0,
        active_agent: None,
    };
    traced(&ctx, "create_session", || store.create_session(&session))?;
    let admitted = traced(&ctx, "admit_concurrent_session", || {
        store.admit_concurrent(&user, &session.session_id, limits.concurrent_sessions)
    })?;
    if !admitted {
        session.status = "closed".to_string();
        traced(&ctx, "update_session", || store.update_session(&session))?;
        return Err(limit_error(
            "Concurrent session limit reached",
            limits.retry_after_s,
        ));
    }
    Ok((StatusCode::CREATED, Json(SessionResponse::from(&session))))
}

/// Reads a session for `user`: 404 if missing or expired (marking it `timeout`), 403 if another's.
async fn owned_session(
    state: &AppState,
    ctx: &SpanCtx,
    user: &str,
    id: &str,
) -> Result<SessionRecord, ApiError> {
    let store = &state.store;
    let mut session = traced(ctx, "get_session", || store.get_session(id))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Session not found"))?;
    if session.user_id != user {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "Not your session"));
    }
    if session.status == "timeout" {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Session expired"));
    }
    if now_ms() > session.expires_at_ms && session.status != "closed" {
        session.status = "timeout".to_string();
        traced(ctx, "update_session", || store.update_session(&session))?;
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Session expired"));
    }
    Ok(session)
}

/// `GET /api/v1/session/{id}`.
pub async fn get_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
    Path(id): Path<String>,
) -> Result<Json<SessionResponse>, ApiError> {
    let session = owned_session(&state, &ctx, &user, &id).await?;
    Ok(Json(SessionResponse::from(&session)))
}

/// Runs `work` under the agent timeout: 504 past it.
async fn with_agent_timeout<T>(
    state: &AppState,
    work: impl Future<Output = Result<T, AgentError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(Duration::from_millis(state.config.agents.timeout_ms), work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "Agent timed out",
        )),
    }
}

const WELCOME_STATUSES: [&str; 4] = ["mc_welcome", "game_select", "suggestion_phase", "active"];
const WELCOME_PHASES: [&str; 4] = [
    "welcome",
    "game_selection",
    "audience_suggestion",
    "rules_and_start",
];

/// `POST /api/v1/session/{id}/welcome`: one of the MC's four steps per call.
pub async fn welcome(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: WelcomeInput = parse_body(&body)?;
    let user_input = input.user_input.unwrap_or_default();
    if user_input.chars().count() > 500 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_input: at most 500 characters",
        ));
    }
    let mut session = owned_session(&state, &ctx, &user, &id).await?;
    let step = session.mc_step;
    if step as usize >= WELCOME_STATUSES.len() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MC welcome already complete",
        ));
    }
    let reply =
        with_agent_timeout(&state, state.agents.run_welcome(step, &user_input, &ctx)).await?;
    session.mc_step = step + 1;
    session.status = WELCOME_STATUSES[step as usize].to_string();
    session.updated_at_ms = now_ms();
    if let Some(game) = &reply.selected_game {
        session.selected_game = Some(game.clone());
    }
    if step == 2 {
        session.audience_suggestion = Some(if user_input.is_empty() {
            "a haunted bakery".to_string()
        } else {
            user_input
        });
    }
    traced(&ctx, "update_session", || {
        state.store.update_session(&session)
    })?;
    let complete = session.mc_step as usize == WELCOME_STATUSES.len();
    Ok(Json(json!({
        "mc_response": reply.text,
        "phase": WELCOME_PHASES[step as usize],
        "next_status": session.status,
        "selected_game": session.selected_game,
        "audience_suggestion": session.audience_suggestion,
        "mc_welcome_complete": complete,
        "timestamp": rfc3339(session.updated_at_ms),
    })))
}

/// Keyword mood metrics of the Room's text (`_extract_mood_metrics`).
fn mood_metrics(room: &str) -> Value {
    let lower = room.to_lowercase();
    let positive = ["laugh", "love", "great"]
        .iter()
        .filter(|w| lower.contains(*w))
        .count() as f64;
    let negative = ["boring", "quiet"]
        .iter()
        .filter(|w| lower.contains(*w))
        .count() as f64;
    let sentiment = ((positive - negative) / 3.0).clamp(-1.0, 1.0);
    json!({
        "sentiment_score": sentiment,
        "engagement_score": (0.5 + sentiment / 2.0).clamp(0.0, 1.0),
        "laughter_detected": lower.contains("laugh"),
    })
}

/// `POST /api/v1/session/{id}/turn`: the turn-number check, the agents, one transactional write.
pub async fn turn(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: TurnInput = parse_body(&body)?;
    let length = input.user_input.chars().count();
    if !(1..=1000).contains(&length) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("user_input: 1-1000 characters, got {length}"),
        ));
    }
    if input.turn_number < 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "turn_number: must be >= 1",
        ));
    }
    let mut session = owned_session(&state, &ctx, &user, &id).await?;
    let expected = session.turn_count + 1;
    if input.turn_number != expected {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Expected turn {expected}, got {}", input.turn_number),
        ));
    }
    let store = &state.store;
    let turns = traced(&ctx, "get_history", || store.history(&id))?;
    let replies = with_agent_timeout(
        &state,
        state
            .agents
            .run_turn(&session, &turns, expected, &input.user_input, &ctx),
    )
    .await?;
    let now = now_ms();
    let room = replies
        .room
        .clone()
        .unwrap_or_else(|| "Audience is engaged and enjoying the scene".to_string());
    let record = TurnRecord {
        turn_number: expected,
        user_input: input.user_input,
        partner_response: replies.partner.clone(),
        room_analysis: room.clone(),
        coach_feedback: replies.coach.clone(),
        phase: phase(expected).to_string(),
        timestamp_ms: now,
    };
    session.turn_count = expected;
    session.current_phase = record.phase.clone();
    session.updated_at_ms = now;
    session.active_agent = Some("partner".to_string());
    session.status = if expected >= 15 {
        "scene_complete"
    } else {
        "active"
    }
    .to_string();
    if !traced(&ctx, "append_turn", || store.append_turn(&session, &record))? {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Expected turn {expected}, got {expected} (a concurrent turn won)"),
        ));
    }
    let energy = if replies.room.is_some() {
        "high"
    } else {
        "steady"
    };
    let metrics = mood_metrics(&room);
    Ok(Json(json!({
        "turn_number": expected,
        "partner_response": replies.partner,
        "room_vibe": {"analysis": room, "energy": energy, "mood_metrics": metrics},
        "current_phase": record.phase,
        "timestamp": rfc3339(now),
        "coach_feedback": replies.coach,
    })))
}

/// `POST /api/v1/session/{id}/close`: status `closed`, then the concurrent counter released.
pub async fn close(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut session = owned_session(&state, &ctx, &user, &id).await?;
    session.status = "closed".to_string();
    session.updated_at_ms = now_ms();
    let store = &state.store;
    traced(&ctx, "update_session", || store.update_session(&session))?;
    traced(&ctx, "release_concurrent_session", || {
        store.release_concurrent(&user, &id)
    })?;
    Ok(Json(json!({"status": "closed", "session_id": id})))
}

/// `GET /api/v1/user/limits`, in the shape the app's code returns.
pub async fn user_limits(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Span(ctx): Span,
) -> Result<Json<Value>, ApiError> {
    let limits = traced(&ctx, "get_user_limits", || {
        state.store.user_limits(&user, now_ms())
    })?;
    let config = &state.config.limits;
    Ok(Json(json!({
        "user_id": user,
        "limits": {
            "daily_sessions": {"used": limits.daily_used, "limit": config.daily_sessions, "reset_at": rfc3339(limits.daily_reset_at_ms)},
            "concurrent_sessions": {
                "active": limits.active_session_ids.len(),
                "limit": config.concurrent_sessions,
                "active_session_ids": limits.active_session_ids,
            },
        },
    })))
}

/// `GET /health`.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "healthy"}))
}

/// `GET /ready`: writes and deletes a health document; 503 if the datastore fails.
pub async fn ready(
    State(state): State<AppState>,
    Span(ctx): Span,
) -> Result<Json<Value>, ApiError> {
    traced(&ctx, "health_check", || state.store.health_check()).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("datastore not ready: {e}"),
        )
    })?;
    Ok(Json(json!({"status": "ready"})))
}
