//! Request pipelines compiled into a flat arena of nodes, and the per-request frames that
//! execute them.
//!
//! A pipeline is a tree: `sequence` and `parallel` nodes hold children; leaves are CPU bursts,
//! cached CPU bursts, agent runs (one or more sequential LLM calls) and datastore operations.
//! Every node may carry a turn condition. A running request keeps a small stack-free list of
//! frames (one per started node); a finished child reports to its parent frame, a `parallel`
//! frame finishes when its last child does and inherits that child's time breakdown, so the
//! breakdown of a request is the one along its critical path.

use super::build_error::BuildError;
use crate::config::{self, DatastoreOpKind, RequestSpec, Step, When};
use crate::dist::Sampler;

/// Sentinel for "no parent".
pub const NO_PARENT: u16 = u16::MAX;

/// Request kinds, in the order of [`Program::roots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// Session start.
    Start = 0,
    /// Welcome (MC) call.
    Welcome = 1,
    /// Scene turn.
    Turn = 2,
    /// Session close.
    Close = 3,
}

/// Components of a request's time, along its critical path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// CPU demand at full speed.
    Cpu = 0,
    /// Extra wall time from sharing the vCPUs.
    CpuContention = 1,
    /// Waiting for LLM calls.
    Llm = 2,
    /// Backoff before retrying a 429.
    RetryBackoff = 3,
    /// Datastore operations.
    Datastore = 4,
}

/// Number of [`Component`]s.
pub const COMPONENTS: usize = 5;

/// One agent run, compiled.
#[derive(Clone, Debug)]
pub struct LlmLeaf {
    /// Index into [`Program::agents`].
    pub agent: usize,
    /// Index into [`Model::llms`](super::model::Model::llms): the step's `model:`.
    pub llm: usize,
    /// Sequential calls in the run.
    pub calls: Sampler,
    /// Prompt tokens per call.
    pub prompt_tokens: Sampler,
    /// Whether calls carry the conversation history.
    pub include_history: bool,
    /// Output tokens per call.
    pub output_tokens: Sampler,
}

/// What a node does.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// Children one after another: `children[first..first+len]`.
    Sequence {
        /// Index of the first child in `children`.
        first: u32,
        /// Number of children.
        len: u32,
    },
    /// Children all at once: `children[first..first+len]`.
    Parallel {
        /// Index of the first child in `children`.
        first: u32,
        /// Number of children.
        len: u32,
    },
    /// A CPU burst.
    Cpu(Sampler),
    /// A CPU burst saved by an agent-cache hit.
    CachedCpu {
        /// Cache key id.
        key: u32,
        /// Turn from which the phase-2 key is used.
        phase_two_from: Option<u32>,
        /// Demand on a miss.
        demand: Sampler,
    },
    /// An agent run.
    Llm(LlmLeaf),
    /// Datastore operations in sequence.
    Datastore {
        /// Operation kind.
        op: DatastoreOpKind,
        /// How many.
        count: u32,
    },
}

/// A node and its turn condition.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it does.
    pub kind: NodeKind,
    /// When it runs (absent: always).
    pub when: Option<When>,
}

/// All request pipelines of an experiment.
#[derive(Clone, Debug)]
pub struct Program {
    /// Node arena.
    pub nodes: Vec<Node>,
    /// Child lists of sequence and parallel nodes.
    pub children: Vec<u32>,
    /// Root node of each request kind.
    pub roots: [u32; 4],
    /// Timeout of each request kind, seconds.
    pub timeouts: [Option<f64>; 4],
    /// Names of agent-cache keys, by id.
    pub cache_keys: Vec<String>,
    /// Agent names of LLM steps, by id (one id per distinct name), for per-agent reports.
    pub agents: Vec<String>,
}

/// Does `when` allow this turn?
pub fn when_allows(when: &When, turn: u32) -> bool {
    when.turn_in.as_ref().is_none_or(|v| v.contains(&turn))
        && when.turn_from.is_none_or(|f| turn >= f)
        && when.turn_to.is_none_or(|t| turn <= t)
        && when
            .turn_every
            .is_none_or(|e| e > 0 && turn.is_multiple_of(e))
}

impl Program {
    /// Compiles the four request pipelines. `llm_index` maps an `llm` step to the index in
    /// `llm.models` of the model it runs on (its own `model:`, else `llm.default_model`).
    pub fn compile(
        requests: &config::Requests,
        llm_index: &dyn Fn(&config::LlmStep) -> Option<usize>,
    ) -> Result<Program, BuildError> {
        let mut p = Program {
            nodes: Vec::new(),
            children: Vec::new(),
            roots: [0; 4],
            timeouts: [None; 4],
            cache_keys: Vec::new(),
            agents: Vec::new(),
        };
        let kinds: [&RequestSpec; 4] = [
            &requests.start,
            &requests.welcome,
            &requests.turn,
            &requests.close,
        ];
        for (i, spec) in kinds.iter().enumerate() {
            p.roots[i] = p.add_group(&spec.steps, false, None, llm_index)?;
            p.timeouts[i] = spec.timeout.map(|t| t.0);
        }
        Ok(p)
    }

    fn add_group(
        &mut self,
        steps: &[Step],
        parallel: bool,
        when: Option<When>,
        llm_index: &dyn Fn(&config::LlmStep) -> Option<usize>,
    ) -> Result<u32, BuildError> {
        let ids: Vec<u32> = steps
            .iter()
            .map(|s| self.add_step(s, llm_index))
            .collect::<Result<_, _>>()?;
        let first = self.children.len() as u32;
        self.children.extend(&ids);
        let len = ids.len() as u32;
        let kind = if parallel {
            NodeKind::Parallel { first, len }
        } else {
            NodeKind::Sequence { first, len }
        };
        self.nodes.push(Node { kind, when });
        Ok(self.nodes.len() as u32 - 1)
    }

    fn add_step(
        &mut self,
        s: &Step,
        llm_index: &dyn Fn(&config::LlmStep) -> Option<usize>,
    ) -> Result<u32, BuildError> {
        let when = s.when.clone();
        if let Some(children) = &s.parallel {
            return self.add_group(children, true, when, llm_index);
        }
        if let Some(children) = &s.sequence {
            return self.add_group(children, false, when, llm_index);
        }
        let kind = if let Some(d) = &s.cpu {
            NodeKind::Cpu(d.sampler()?)
        } else if let Some(c) = &s.cached_cpu {
            let key = match self.cache_keys.iter().position(|k| *k == c.key) {
                Some(i) => i as u32,
                None => {
                    self.cache_keys.push(c.key.clone());
                    self.cache_keys.len() as u32 - 1
                }
            };
            NodeKind::CachedCpu {
                key,
                phase_two_from: c.phase_two_from,
                demand: c.demand.sampler()?,
            }
        } else if let Some(l) = &s.llm {
            let agent = match self.agents.iter().position(|a| *a == l.agent) {
                Some(i) => i,
                None => {
                    self.agents.push(l.agent.clone());
                    self.agents.len() - 1
                }
            };
            NodeKind::Llm(LlmLeaf {
                agent,
                llm: llm_index(l).ok_or_else(|| {
                    BuildError::UnknownLlm(l.model.clone().unwrap_or_else(|| "(none)".into()))
                })?,
                calls: l.calls.sampler()?,
                prompt_tokens: l.prompt_tokens.sampler()?,
                include_history: l.include_history,
                output_tokens: l.output_tokens.sampler()?,
            })
        } else if let Some(d) = &s.datastore {
            NodeKind::Datastore {
                op: d.op,
                count: d.count,
            }
        } else {
            return Err(BuildError::StepKind);
        };
        self.nodes.push(Node { kind, when });
        Ok(self.nodes.len() as u32 - 1)
    }

    /// The children of a sequence or parallel node.
    pub fn child(&self, first: u32, i: u32) -> u32 {
        self.children[(first + i) as usize]
    }
}

/// Execution state of one started node of a running request.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Node being run.
    pub node: u32,
    /// Parent frame, or [`NO_PARENT`].
    pub parent: u16,
    /// Sequence: next child to start. Parallel: children still running. LLM: calls left.
    pub counter: u32,
    /// LLM: retries spent on the current call.
    pub attempt: u32,
    /// Output tokens produced earlier in this agent run (carried into later calls' input).
    pub run_output_tokens: u32,
    /// When the current leaf activity started.
    pub started: f64,
    /// CPU demand of the current burst.
    pub demand: f64,
    /// Time by component along this frame's critical path.
    pub breakdown: [f64; COMPONENTS],
}

impl Frame {
    /// A fresh frame for `node` under `parent`.
    pub fn new(node: u32, parent: u16, now: f64) -> Frame {
        Frame {
            node,
            parent,
            counter: 0,
            attempt: 0,
            run_output_tokens: 0,
            started: now,
            demand: 0.0,
            breakdown: [0.0; COMPONENTS],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_conditions_combine_with_and() {
        let coach = When {
            turn_in: Some(vec![5, 10, 15]),
            ..When::default()
        };
        assert!(when_allows(&coach, 10));
        assert!(!when_allows(&coach, 11));
        let late_every_5 = When {
            turn_from: Some(6),
            turn_every: Some(5),
            ..When::default()
        };
        assert!(!when_allows(&late_every_5, 5));
        assert!(when_allows(&late_every_5, 10));
        assert!(!when_allows(&late_every_5, 12));
        let early = When {
            turn_to: Some(4),
            ..When::default()
        };
        assert!(when_allows(&early, 4) && !when_allows(&early, 5));
    }
}
