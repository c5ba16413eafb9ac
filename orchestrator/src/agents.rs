//! The improv app's agents and how a request runs them.
//!
//! A scene turn, in the app's (`sequential`) mode: the Stage Manager runs only when the session
//! has no agent to resume (turn 1), and answers with a `transfer_to_agent` call; then the Partner
//! replies; with probability `room_probability` the Room runs, making a tool round trip (a call
//! that asks for the sentiment tool, the tool's collection read, a second call); at turns 5, 10
//! and 15+ the Coach runs. So a turn makes 1-2 sequential LLM calls, more with the Room, Coach or
//! the first turn's transfer. In `parallel` mode Partner, Room and Coach run at once (the plan's
//! proposed optimisation). The MC welcome is four steps of one MC call each, the game selection
//! with a tool round trip. Every invocation is an `invoke_agent NAME` span.

use std::sync::Arc;

use crate::config::{AgentMode, Config};
use crate::history;
use crate::llm::{LlmBackend, LlmError, LlmRequest, LlmResponse, call_with_retries};
use crate::store::{SessionRecord, Store, StoreError, TurnRecord, traced};
use crate::trace::{KIND_INTERNAL, KeyValue, SpanCtx};

/// An agent's fixed traits: its instruction's size (from the app's prompts) and reply length.
struct AgentSpec {
    name: &'static str,
    role: &'static str,
    instruction_chars: usize,
    typical_output_tokens: u32,
}

const STAGE_MANAGER: AgentSpec = AgentSpec {
    name: "stage_manager",
    role: "You are the Stage Manager. Coordinate the Partner, Room and Coach agents by transferring to them.",
    instruction_chars: 3400,
    typical_output_tokens: 20,
};
const PARTNER: AgentSpec = AgentSpec {
    name: "partner",
    role: "You are the user's improv scene partner. Accept offers and build on them (yes, and).",
    instruction_chars: 4400,
    typical_output_tokens: 120,
};
const ROOM: AgentSpec = AgentSpec {
    name: "room",
    role: "You are the Room: read the audience's mood in 1-2 sentences max, using the sentiment tool.",
    instruction_chars: 1700,
    typical_output_tokens: 45,
};
const COACH: AgentSpec = AgentSpec {
    name: "coach",
    role: "You are the improv Coach: give feedback grounded in improv principles.",
    instruction_chars: 4800,
    typical_output_tokens: 150,
};
const MC: AgentSpec = AgentSpec {
    name: "mc",
    role: "You are the MC of Improv Olympics: welcome the user, pick a game, take a suggestion, explain rules.",
    instruction_chars: 3000,
    typical_output_tokens: 100,
};

/// Tokens of a function-call reply (a transfer or a tool request).
const FUNCTION_CALL_TOKENS: u32 = 15;

/// The system instruction of `spec`: its role, padded with guidelines to the app's prompt size.
fn instruction(spec: &AgentSpec) -> String {
    const GUIDELINE: &str =
        " Keep the scene safe, kind and playful; stay in character; be specific.";
    let mut text = spec.role.to_string();
    while text.len() < spec.instruction_chars {
        text.push_str(GUIDELINE);
    }
    text
}

/// Why an agent run failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An LLM call failed after its retries.
    #[error("LLM call failed: {0}")]
    Llm(#[from] LlmError),
    /// A datastore read of a tool failed.
    #[error("datastore: {0}")]
    Store(#[from] StoreError),
}

/// The agents' replies to one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnReplies {
    /// The Partner's line.
    pub partner: String,
    /// The Room's analysis, if the Room ran.
    pub room: Option<String>,
    /// The Coach's feedback, if the Coach ran.
    pub coach: Option<String>,
}

/// The MC's reply to one welcome step.
#[derive(Debug, Clone, PartialEq)]
pub struct WelcomeReply {
    /// The MC's text.
    pub text: String,
    /// The game picked at the game-selection step.
    pub selected_game: Option<String>,
}

/// Runs the agents against an LLM backend and the datastore.
pub struct Agents {
    config: Arc<Config>,
    backend: Arc<dyn LlmBackend>,
    store: Arc<dyn Store>,
}

/// The phase of a turn: turns 1-4 supportive, 5+ fallible (master).
pub fn phase(turn_number: u32) -> &'static str {
    if turn_number < 5 {
        "Phase 1 (Supportive)"
    } else {
        "Phase 2 (Fallible)"
    }
}

/// Whether the Coach joins turn `turn_number` (5, 10 and 15+).
pub fn coach_joins(turn_number: u32) -> bool {
    turn_number == 5 || turn_number == 10 || turn_number >= 15
}

/// Whether the Room joins: a fixed function of session and turn, so both modes see the same turns.
fn room_joins(session_id: &str, turn_number: u32, probability: f64) -> bool {
    // FNV-1a, then the top 53 bits as a uniform number in [0, 1).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in session_id.bytes().chain(turn_number.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    ((hash >> 11) as f64 / (1u64 << 53) as f64) < probability
}

impl Agents {
    /// Agents calling `backend` and reading tool data from `store`.
    pub fn new(config: Arc<Config>, backend: Arc<dyn LlmBackend>, store: Arc<dyn Store>) -> Self {
        Self {
            config,
            backend,
            store,
        }
    }

    async fn call(
        &self,
        spec: &AgentSpec,
        prompt: String,
        function_call: Option<&str>,
        ctx: &SpanCtx,
    ) -> Result<LlmResponse, LlmError> {
        let request = LlmRequest {
            agent: spec.name,
            model: self.config.agents.model.clone(),
            system: instruction(spec),
            prompt,
            typical_output_tokens: if function_call.is_some() {
                FUNCTION_CALL_TOKENS
            } else {
                spec.typical_output_tokens
            },
            function_call: function_call.map(str::to_string),
        };
        call_with_retries(self.backend.as_ref(), &self.config.llm, &request, ctx).await
    }

    /// A tool round trip: the call asking for `tool`, the tool's read of `collection`, the reply.
    async fn with_tool(
        &self,
        spec: &AgentSpec,
        prompt: String,
        tool: &'static str,
        collection: &'static str,
        ctx: &SpanCtx,
    ) -> Result<(String, Vec<String>), AgentError> {
        self.call(spec, prompt.clone(), Some(tool), ctx).await?;
        let mut tool_span = ctx.start(format!("execute_tool {tool}"), KIND_INTERNAL);
        tool_span.set(KeyValue::str("gen_ai.operation.name", "execute_tool"));
        tool_span.set(KeyValue::str("gen_ai.tool.name", tool));
        let items = traced(&tool_span.ctx(), "stream_collection", || {
            self.store.collection(collection)
        });
        tool_span.end(items.as_ref().err().map(|e| e.to_string()).as_deref());
        let items = items?;
        let reply = self
            .call(
                spec,
                format!("{prompt}\nTool {tool} returned: {}", items.join(", ")),
                None,
                ctx,
            )
            .await?;
        Ok((reply.text, items))
    }

    /// Runs one agent step inside an `invoke_agent NAME` span.
    async fn invoke<T>(
        spec: &AgentSpec,
        ctx: &SpanCtx,
        run: impl AsyncFnOnce(SpanCtx) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        let mut span = ctx.start(format!("invoke_agent {}", spec.name), KIND_INTERNAL);
        span.set(KeyValue::str("gen_ai.operation.name", "invoke_agent"));
        span.set(KeyValue::str("gen_ai.agent.name", spec.name));
        let result = run(span.ctx()).await;
        span.end(result.as_ref().err().map(|e| e.to_string()).as_deref());
        result
    }

    async fn reply(
        &self,
        spec: &AgentSpec,
        prompt: &str,
        ctx: &SpanCtx,
    ) -> Result<String, AgentError> {
        Self::invoke(spec, ctx, async |c| {
            Ok(self.call(spec, prompt.to_string(), None, &c).await?.text)
        })
        .await
    }

    async fn room(
        &self,
        joins: bool,
        prompt: &str,
        ctx: &SpanCtx,
    ) -> Result<Option<String>, AgentError> {
        if !joins {
            return Ok(None);
        }
        Self::invoke(&ROOM, ctx, async |c| {
            let tool = "get_sentiment_keywords";
            Ok(Some(
                self.with_tool(&ROOM, prompt.to_string(), tool, "sentiment_keywords", &c)
                    .await?
                    .0,
            ))
        })
        .await
    }

    async fn coach(
        &self,
        joins: bool,
        prompt: &str,
        ctx: &SpanCtx,
    ) -> Result<Option<String>, AgentError> {
        if !joins {
            return Ok(None);
        }
        self.reply(&COACH, prompt, ctx).await.map(Some)
    }

    /// Runs a scene turn's agents for `session`, whose stored turns are `turns`.
    pub async fn run_turn(
        &self,
        session: &SessionRecord,
        turns: &[TurnRecord],
        turn_number: u32,
        user_input: &str,
        ctx: &SpanCtx,
    ) -> Result<TurnReplies, AgentError> {
        let with_room = room_joins(
            &session.session_id,
            turn_number,
            self.config.agents.room_probability,
        );
        let with_coach = coach_joins(turn_number);
        let prompt = format!(
            "{}Scene Turn {turn_number} - {}\nGame: {}\nSuggestion: {}\nUser: {user_input}\n\
             Coordinate: 1. Partner Agent, 2. Room Agent{}\nFormat: PARTNER: ... / ROOM: ...{}",
            history::render(turns, &self.config.history),
            phase(turn_number),
            session.selected_game.as_deref().unwrap_or("Open Scene"),
            session.audience_suggestion.as_deref().unwrap_or("none"),
            if with_coach { ", 3. Coach Agent" } else { "" },
            if with_coach { " / COACH: ..." } else { "" },
        );
        if session.active_agent.is_none() {
            Self::invoke(&STAGE_MANAGER, ctx, async |c| {
                Ok(self
                    .call(
                        &STAGE_MANAGER,
                        prompt.clone(),
                        Some("transfer_to_agent"),
                        &c,
                    )
                    .await?)
            })
            .await?;
        }
        let (partner, room, coach) = match self.config.agents.mode {
            AgentMode::Sequential => (
                self.reply(&PARTNER, &prompt, ctx).await?,
                self.room(with_room, &prompt, ctx).await?,
                self.coach(with_coach, &prompt, ctx).await?,
            ),
            AgentMode::Parallel => {
                let (p, r, c) = tokio::join!(
                    self.reply(&PARTNER, &prompt, ctx),
                    self.room(with_room, &prompt, ctx),
                    self.coach(with_coach, &prompt, ctx)
                );
                (p?, r?, c?)
            }
        };
        Ok(TurnReplies {
            partner,
            room,
            coach,
        })
    }

    /// Runs welcome step `step` (0 welcome, 1 game selection, 2 audience suggestion, 3 rules).
    pub async fn run_welcome(
        &self,
        step: u32,
        user_input: &str,
        ctx: &SpanCtx,
    ) -> Result<WelcomeReply, AgentError> {
        let prompt = format!("MC welcome step {}. User: {user_input}", step + 1);
        Self::invoke(&MC, ctx, async |c| {
            if step == 1 {
                let (text, games) = self
                    .with_tool(&MC, prompt.clone(), "get_all_games", "improv_games", &c)
                    .await?;
                let pick = user_input.len() % games.len().max(1);
                return Ok(WelcomeReply {
                    text,
                    selected_game: games.get(pick).cloned(),
                });
            }
            if step == 0 {
                traced(&c, "stream_collection", || {
                    self.store.collection("improv_games")
                })?;
            }
            Ok(WelcomeReply {
                text: self.call(&MC, prompt.clone(), None, &c).await?.text,
                selected_game: None,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coach_joins_turns_five_ten_and_fifteen_on() {
        let joined: Vec<u32> = (1..=17).filter(|&t| coach_joins(t)).collect();
        assert_eq!(joined, vec![5, 10, 15, 16, 17]);
        assert_eq!(phase(4), "Phase 1 (Supportive)");
        assert_eq!(phase(5), "Phase 2 (Fallible)");
    }

    #[test]
    fn the_room_joins_about_as_often_as_configured() {
        let joined = (0..2000)
            .filter(|i| room_joins(&format!("sess_{i}"), 3, 0.3))
            .count();
        assert!((450..750).contains(&joined), "{joined}");
        assert!(!room_joins("sess_x", 1, 0.0));
        assert!(room_joins("sess_x", 1, 1.0));
    }

    #[test]
    fn instructions_have_the_apps_sizes() {
        assert!(instruction(&PARTNER).len() >= 4400);
        assert!(instruction(&ROOM).starts_with("You are the Room"));
    }
}
