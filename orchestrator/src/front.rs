//! The instance front, like Cloud Run's: at most `max_concurrency` requests in the handler at
//! once, the rest waiting in FIFO order (tokio's semaphore is fair) until a slot frees or the
//! queue deadline passes, then 429. It also opens each request's trace: the root server span,
//! a `queue_wait` span, and a `handler` span that carries the CPU time the handler used; the
//! finished trace is written to the trace file as one line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::cpu::CpuMetered;
use crate::trace::{KIND_INTERNAL, KIND_SERVER, KeyValue, TraceRecorder, TraceSink, now_unix_nano};

/// The front's slots, deadline and trace file.
pub struct Front {
    slots: Arc<Semaphore>,
    queue_deadline: Duration,
    sink: Option<TraceSink>,
}

impl Front {
    /// A front with `max_concurrency` slots.
    pub fn new(max_concurrency: usize, queue_deadline: Duration, sink: Option<TraceSink>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrency)),
            queue_deadline,
            sink,
        }
    }
}

/// The route template of `path` (session ids replaced by `{id}`), for span names.
pub fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", "api", "v1", "session", id, rest @ ..] if *id != "start" => {
            let mut route = "/api/v1/session/{id}".to_string();
            for part in rest {
                route.push('/');
                route.push_str(part);
            }
            route
        }
        _ => path.to_string(),
    }
}

/// The front as an axum middleware.
pub async fn front(State(front): State<Arc<Front>>, mut request: Request, next: Next) -> Response {
    let arrival = now_unix_nano();
    let recorder = TraceRecorder::new();
    let route = route_of(request.uri().path());
    let mut root = recorder.root().start_at(
        format!("{} {route}", request.method()),
        KIND_SERVER,
        arrival,
    );
    root.set(KeyValue::str(
        "http.request.method",
        request.method().as_str(),
    ));
    root.set(KeyValue::str("http.route", route.clone()));
    root.set(KeyValue::str("url.path", request.uri().path()));
    let permit =
        tokio::time::timeout(front.queue_deadline, front.slots.clone().acquire_owned()).await;
    let admitted = now_unix_nano();
    root.ctx()
        .start_at("queue_wait", KIND_INTERNAL, arrival)
        .end_at(admitted, None);
    root.set(KeyValue::int(
        "orchestrator.queue_wait_ns",
        (admitted - arrival) as i64,
    ));
    let mut response = match permit {
        Ok(Ok(_permit)) => {
            let mut handler = root.ctx().start_at("handler", KIND_INTERNAL, admitted);
            request.extensions_mut().insert(handler.ctx());
            let cpu_ns = Arc::new(AtomicU64::new(0));
            let response = CpuMetered::new(next.run(request), cpu_ns.clone()).await;
            let cpu_ns = cpu_ns.load(Ordering::Relaxed) as i64;
            handler.set(KeyValue::int("orchestrator.cpu_time_ns", cpu_ns));
            handler.end(None);
            root.set(KeyValue::int("orchestrator.cpu_time_ns", cpu_ns));
            response
        }
        Ok(Err(_closed)) => (StatusCode::SERVICE_UNAVAILABLE, "front closed").into_response(),
        Err(_deadline) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"detail": "instance queue deadline exceeded"})),
            )
                .into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
    };
    let status = response.status();
    root.set(KeyValue::int(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    let error = (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| status.to_string());
    root.end(error.as_deref());
    if let Ok(value) = HeaderValue::from_str(recorder.trace_id()) {
        response.headers_mut().insert("x-trace-id", value);
    }
    if let Some(sink) = &front.sink
        && let Err(e) = sink.write(&recorder.export())
    {
        eprintln!("orchestrator: cannot write trace: {e}");
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_become_a_template() {
        assert_eq!(
            super::route_of("/api/v1/session/sess_ab/turn"),
            "/api/v1/session/{id}/turn"
        );
        assert_eq!(
            super::route_of("/api/v1/session/sess_ab"),
            "/api/v1/session/{id}"
        );
        assert_eq!(
            super::route_of("/api/v1/session/start"),
            "/api/v1/session/start"
        );
        assert_eq!(super::route_of("/health"), "/health");
    }
}
