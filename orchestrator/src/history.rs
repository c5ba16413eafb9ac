//! Conversation history as it reaches the model: token counting (the app's estimate, 4
//! characters a token) and compaction (the first turn plus the last `keep_recent`, when the whole
//! history is over `max_context_tokens`).

use crate::config::HistoryConfig;
use crate::store::TurnRecord;

/// The app's token estimate: characters / 4.
pub fn estimate_tokens(text: &str) -> u64 {
    text.chars().count() as u64 / 4
}

/// One turn as prompt text.
pub fn render_turn(turn: &TurnRecord) -> String {
    format!(
        "Turn {}: USER: {}\nPARTNER: {}\nROOM: {}\n",
        turn.turn_number, turn.user_input, turn.partner_response, turn.room_analysis
    )
}

/// The turns that go into the prompt under `config`.
pub fn compact<'a>(turns: &'a [TurnRecord], config: &HistoryConfig) -> Vec<&'a TurnRecord> {
    let total: u64 = turns.iter().map(|t| estimate_tokens(&render_turn(t))).sum();
    if !config.compaction
        || total <= config.max_context_tokens
        || turns.len() <= config.keep_recent + 1
    {
        return turns.iter().collect();
    }
    let recent = &turns[turns.len() - config.keep_recent..];
    std::iter::once(&turns[0]).chain(recent).collect()
}

/// The history part of a prompt.
pub fn render(turns: &[TurnRecord], config: &HistoryConfig) -> String {
    compact(turns, config)
        .into_iter()
        .map(render_turn)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(n: u32) -> Vec<TurnRecord> {
        (1..=n)
            .map(|i| TurnRecord {
                turn_number: i,
                user_input: "u".repeat(200),
                partner_response: "p".repeat(300),
                room_analysis: "r".repeat(100),
                coach_feedback: None,
                phase: String::new(),
                timestamp_ms: 0,
            })
            .collect()
    }

    #[test]
    fn tokens_are_characters_over_four() {
        assert_eq!(estimate_tokens("Hello"), 1);
        assert_eq!(estimate_tokens(&"x".repeat(1000)), 250);
    }

    #[test]
    fn an_over_budget_history_keeps_the_first_and_the_last_turns() {
        let config = HistoryConfig {
            compaction: true,
            max_context_tokens: 600,
            keep_recent: 3,
        };
        let history = turns(20);
        let kept: Vec<u32> = compact(&history, &config)
            .iter()
            .map(|t| t.turn_number)
            .collect();
        assert_eq!(kept, vec![1, 18, 19, 20]);
        let off = HistoryConfig {
            compaction: false,
            ..config
        };
        assert_eq!(compact(&history, &off).len(), 20);
    }
}
