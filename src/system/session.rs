//! A conversation's token history and its compaction.
//!
//! Without compaction the history is every earlier turn's tokens (user message plus all LLM
//! output). With compaction the history keeps the first `keep_first` turns and the most recent
//! `keep_last` turns, capped at `max_tokens`, as the plan's context compactor does.

use std::collections::VecDeque;

use crate::config::Compaction;

/// Token history of one session.
#[derive(Clone, Debug, Default)]
pub struct History {
    turns: u32,
    total: u64,
    first: u64,
    recent: VecDeque<u32>,
}

impl History {
    /// Clears the history for reuse (keeps allocations).
    pub fn reset(&mut self) {
        self.turns = 0;
        self.total = 0;
        self.first = 0;
        self.recent.clear();
    }

    /// Appends one finished turn of `tokens`.
    pub fn push(&mut self, tokens: u32, compaction: Option<&Compaction>) {
        self.turns += 1;
        self.total += u64::from(tokens);
        if let Some(c) = compaction {
            if self.turns <= c.keep_first {
                self.first += u64::from(tokens);
            } else {
                self.recent.push_back(tokens);
                while self.recent.len() > c.keep_last as usize {
                    self.recent.pop_front();
                }
            }
        }
    }

    /// Tokens sent as history with the next call.
    pub fn tokens(&self, compaction: Option<&Compaction>) -> u64 {
        match compaction {
            None => self.total,
            Some(c) => {
                let kept = self.first + self.recent.iter().map(|t| u64::from(*t)).sum::<u64>();
                kept.min(u64::from(c.max_tokens))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_without_compaction() {
        let mut h = History::default();
        for _ in 0..15 {
            h.push(100, None);
        }
        assert_eq!(h.tokens(None), 1500);
    }

    #[test]
    fn keeps_first_and_recent_then_caps() {
        let c = Compaction {
            keep_first: 1,
            keep_last: 3,
            max_tokens: 4000,
        };
        let mut h = History::default();
        for t in 1..=20u32 {
            h.push(t * 10, Some(&c));
        }
        // Turn 1 (10) + turns 18, 19, 20 (180 + 190 + 200).
        assert_eq!(h.tokens(Some(&c)), 580);
        let tight = Compaction {
            max_tokens: 300,
            ..c
        };
        assert_eq!(h.tokens(Some(&tight)), 300);
    }
}
