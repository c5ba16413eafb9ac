//! Semantic checks on a parsed experiment: ranges, references between sections, and that every
//! distribution can be built. Errors are [`FieldError`]s: the dotted field path and why.

use super::error::{FieldError, Reason};
use super::model::*;
use crate::dist::{DistSpec, DistValue, Sampler};

type Check = Result<(), FieldError>;

/// Shortest horizon a run accepts, seconds.
const MIN_HORIZON_S: f64 = 1.0;

fn fail(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err(FieldError {
        field: field.into(),
        reason: Reason::Rule(message.into()),
    })
}

/// Compiles `spec`, blaming `field` if it cannot be.
fn sampler<V: DistValue>(field: &str, spec: &DistSpec<V>) -> Result<Sampler, FieldError> {
    spec.sampler().map_err(|e| FieldError {
        field: field.into(),
        reason: Reason::Dist(e),
    })
}

fn dist<V: DistValue>(field: &str, spec: &DistSpec<V>) -> Check {
    sampler(field, spec).map(|_| ())
}

fn positive(field: &str, v: f64) -> Check {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        fail(field, format!("must be greater than 0 (got {v})"))
    }
}

/// Most time-series buckets a run may ask for (`horizon / sample_interval`).
const MAX_BUCKETS: f64 = 1_000_000.0;

/// Checks that the time series stays a sane size.
fn check_buckets(e: &Experiment) -> Result<(), String> {
    let buckets = e.horizon.0 / e.sample_interval.0;
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "horizon / sample_interval = {buckets:.0} time-series buckets; at most {MAX_BUCKETS:.0} are allowed (raise sample_interval)"
        ));
    }
    Ok(())
}

/// Checks everything serde cannot.
pub(super) fn validate(e: &Experiment) -> Check {
    let name_ok = !e.name.is_empty()
        && !e.name.starts_with('.')
        && e.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        fail(
            "name",
            format!(
                "`{}` cannot name an output folder: use letters, digits, `-`, `_` and `.` (not first)",
                e.name
            ),
        )?;
    }
    if e.horizon.0 < MIN_HORIZON_S {
        fail(
            "horizon",
            format!(
                "must be at least {MIN_HORIZON_S} s (got {} s): a shorter run cannot hold a single request",
                e.horizon.0
            ),
        )?;
    }
    positive("sample_interval", e.sample_interval.0)?;
    check_buckets(e).or_else(|m| fail("sample_interval", m))?;
    if let Warmup::Fixed(w) = e.warmup
        && w.0 >= e.horizon.0
    {
        fail("warmup", "warm-up must be shorter than the horizon")?;
    }
    if e.replications == 0 {
        fail("replications", "at least one replication is needed")?;
    }
    if let Some(p) = &e.precision {
        let (target, _, cap) = p.rule();
        if target <= 0.0 {
            fail("precision", "the target half-width must be above 0 %")?;
        }
        if cap < e.replications.max(2) {
            fail(
                "precision.max_replications",
                "must be at least `replications` (and 2, to have an interval)",
            )?;
        }
    }
    platform(&e.platform)?;
    llm(&e.llm)?;
    for (name, op) in [
        ("read", &e.datastore.read),
        ("write", &e.datastore.write),
        ("delete", &e.datastore.delete),
    ] {
        dist(&format!("datastore.{name}.latency"), &op.latency)?;
    }
    if e.datastore.batch_writes == Some(0) {
        fail("datastore.batch_writes", "must be at least 1")?;
    }
    app(&e.app, &e.llm)?;
    workload(&e.workload)?;
    retry_in_zero_time(e)
}

/// A request refused by a per-user limit takes no simulated time; a closed-workload user that
/// then thinks for exactly zero seconds asks again at the same instant, forever (unless
/// `iterations` ends it).
fn retry_in_zero_time(e: &Experiment) -> Check {
    let w = &e.workload;
    let Some(think) = w
        .think_time
        .as_ref()
        .filter(|_| w.kind == WorkloadKind::Closed)
    else {
        return Ok(());
    };
    let always_zero = sampler("workload.think_time", think)?.mean() == 0.0;
    if always_zero && e.app.rate_limits.is_some() && w.iterations.is_none() {
        fail(
            "workload.think_time",
            "is always 0 s while app.rate_limits refuses requests at once: a refused user would ask again at the same instant forever; give think_time a positive mean, or bound the tasks with workload.iterations",
        )?;
    }
    Ok(())
}

fn platform(p: &Platform) -> Check {
    positive("platform.vcpu", p.vcpu)?;
    if p.max_concurrency == 0 {
        fail("platform.max_concurrency", "must be at least 1")?;
    }
    if p.max_instances == 0 {
        fail("platform.max_instances", "must be at least 1")?;
    }
    if p.min_instances > p.max_instances {
        fail(
            "platform.min_instances",
            format!(
                "min_instances ({}) exceeds max_instances ({})",
                p.min_instances, p.max_instances
            ),
        )?;
    }
    if p.base_memory.0 >= p.memory.0 {
        fail(
            "platform.base_memory",
            "base memory must be below the instance memory limit",
        )?;
    }
    dist("platform.cold_start", &p.cold_start)?;
    if let PendingDeadline::StartupMultiple { multiplier, .. } = p.pending_deadline {
        positive(
            "platform.pending_deadline.startup_multiple.multiplier",
            multiplier,
        )?;
    }
    if let Err(e) = crate::system::autoscaler::build(&p.autoscaler) {
        fail(format!("platform.autoscaler.{}", e.field), e.message)?;
    }
    Ok(())
}

/// `name` must be a key of `llm.models`.
fn known_model(l: &Llm, field: &str, name: &str) -> Check {
    if l.models.contains_key(name) {
        return Ok(());
    }
    let known: Vec<&str> = l.models.keys().map(String::as_str).collect();
    fail(
        field,
        format!("unknown model `{name}` (known: {})", known.join(", ")),
    )
}

fn llm(l: &Llm) -> Check {
    if let Some(name) = &l.default_model {
        known_model(l, "llm.default_model", name)?;
    }
    positive("llm.latency_scale", l.latency_scale)?;
    positive("llm.retry.multiplier", l.retry.multiplier)?;
    for (name, m) in &l.models {
        let at = format!("llm.models.{name}");
        match &m.latency {
            LlmLatency::Tokens { ttft, decode_rate } => {
                dist(&format!("{at}.latency.tokens.ttft"), ttft)?;
                let rate = sampler(&format!("{at}.latency.tokens.decode_rate"), decode_rate)?;
                if rate.mean() <= 0.0 {
                    fail(
                        format!("{at}.latency.tokens.decode_rate"),
                        "decode rate must stay above 0 tokens/s",
                    )?;
                }
            }
            LlmLatency::EndToEnd(d) => dist(&format!("{at}.latency.end_to_end"), d)?,
        }
        if let Some(t) = &m.thinking_tokens {
            dist(&format!("{at}.thinking_tokens"), t)?;
        }
        if m.rpm == Some(0) || m.tpm == Some(0) {
            fail(
                format!("{at}.rpm"),
                "a quota of 0 would reject every call; omit it for no quota",
            )?;
        }
    }
    Ok(())
}

fn app(a: &App, l: &Llm) -> Check {
    if a.turns == 0 {
        fail("app.turns", "a session needs at least one turn")?;
    }
    dist("app.context.user_tokens", &a.context.user_tokens)?;
    if let Some(c) = &a.context.compaction
        && c.keep_first + c.keep_last == 0
    {
        fail(
            "app.context.compaction.keep_last",
            "compaction must keep at least one turn",
        )?;
    }
    if let Some(c) = &a.agent_cache {
        positive("app.agent_cache.ttl", c.ttl.0)?;
    }
    for (kind, r) in [
        ("start", &a.requests.start),
        ("welcome", &a.requests.welcome),
        ("turn", &a.requests.turn),
        ("close", &a.requests.close),
    ] {
        let at = format!("app.requests.{kind}");
        if let Some(t) = r.timeout {
            positive(&format!("{at}.timeout"), t.0)?;
        }
        steps(&format!("{at}.steps"), &r.steps, l)?;
    }
    Ok(())
}

fn steps(at: &str, list: &[Step], l: &Llm) -> Check {
    for (i, s) in list.iter().enumerate() {
        step(&format!("{at}[{i}]"), s, l)?;
    }
    Ok(())
}

fn step(at: &str, s: &Step, l: &Llm) -> Check {
    let kinds = [
        s.cpu.is_some(),
        s.cached_cpu.is_some(),
        s.llm.is_some(),
        s.datastore.is_some(),
        s.parallel.is_some(),
        s.sequence.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        fail(
            at,
            "a step needs exactly one of cpu, cached_cpu, llm, datastore, parallel, sequence",
        )?;
    }
    if let Some(w) = &s.when
        && w.turn_every == Some(0)
    {
        fail(format!("{at}.when.turn_every"), "must be at least 1")?;
    }
    if let Some(d) = &s.cpu {
        dist(&format!("{at}.cpu"), d)?;
    }
    if let Some(c) = &s.cached_cpu {
        dist(&format!("{at}.cached_cpu.demand"), &c.demand)?;
    }
    if let Some(m) = &s.llm {
        match l.model_of(m) {
            None => fail(
                format!("{at}.llm.model"),
                "names no model, and llm.default_model is not set",
            )?,
            Some(name) => known_model(l, &format!("{at}.llm.model"), name)?,
        }
        dist(&format!("{at}.llm.calls"), &m.calls)?;
        dist(&format!("{at}.llm.prompt_tokens"), &m.prompt_tokens)?;
        dist(&format!("{at}.llm.output_tokens"), &m.output_tokens)?;
    }
    if let Some(children) = s.parallel.as_ref().or(s.sequence.as_ref()) {
        if children.is_empty() {
            fail(at, "parallel and sequence need at least one sub-step")?;
        }
        steps(&format!("{at}.sub"), children, l)?;
    }
    Ok(())
}

/// A closed workload's users: `users` (fixed or a ramp) or `stages`, exactly one.
fn closed_users(w: &Workload) -> Check {
    match (&w.users, &w.stages) {
        (None, None) => fail(
            "workload.users",
            "a closed workload needs `users` or `stages`",
        ),
        (Some(_), Some(_)) => fail(
            "workload.stages",
            "give either `users` or `stages`, not both",
        ),
        (None, Some(stages)) => {
            if w.spawn_rate.is_some() {
                fail(
                    "workload.spawn_rate",
                    "stages set their own `rate`; drop `spawn_rate`",
                )?;
            }
            user_stages(stages)
        }
        (Some(users), None) => {
            if w.stop.is_some() {
                fail(
                    "workload.stop",
                    "only `stages` stop users; drop `stop` or use `stages`",
                )?;
            }
            if let Some(r) = w.spawn_rate {
                positive("workload.spawn_rate", r)?;
            }
            match *users {
                Users::Fixed(0) => {
                    fail("workload.users", "a closed workload needs at least 1 user")
                }
                Users::Fixed(_) => Ok(()),
                Users::Ramp { from, to, over, .. } => {
                    positive("workload.users.over", over.0)?;
                    if from.max(to) == 0 {
                        fail(
                            "workload.users.to",
                            "a ramp needs at least 1 user at one end",
                        )?;
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Stages start in time order, at 0 s or later.
fn stage_times(field: &str, times: impl Iterator<Item = f64>) -> Check {
    let mut last = None;
    for (i, t) in times.enumerate() {
        if t.is_nan() || t < 0.0 || last.is_some_and(|l| t <= l) {
            return fail(
                format!("{field}[{i}].at"),
                "stage times must be 0s or later and increase from stage to stage",
            );
        }
        last = Some(t);
    }
    if last.is_none() {
        return fail(field, "needs at least one stage");
    }
    Ok(())
}

/// A closed load shape: ordered stages, positive rates, someone at some point.
fn user_stages(stages: &[UserStage]) -> Check {
    stage_times("workload.stages", stages.iter().map(|s| s.at.0))?;
    for (i, s) in stages.iter().enumerate() {
        if let Some(r) = s.rate {
            positive(&format!("workload.stages[{i}].rate"), r)?;
        }
    }
    if stages.iter().all(|s| s.users == 0) {
        fail("workload.stages", "at least one stage needs 1 user or more")?;
    }
    Ok(())
}

/// An open load shape: ordered stages, rates ≥ 0, each ramp done before the next stage.
fn rate_stages(stages: &[RateStage]) -> Check {
    let field = "workload.arrivals.stages";
    stage_times(field, stages.iter().map(|s| s.at.0))?;
    for (i, s) in stages.iter().enumerate() {
        if !s.per_second.is_finite() || s.per_second < 0.0 {
            fail(
                format!("{field}[{i}].per_second"),
                format!("must be a finite rate of 0 or more (got {})", s.per_second),
            )?;
        }
        let reached = s.at.0 + s.over.map_or(0.0, |o| o.0);
        if stages.get(i + 1).is_some_and(|next| reached > next.at.0) {
            fail(
                format!("{field}[{i}].over"),
                "the ramp must reach its rate before the next stage begins",
            )?;
        }
    }
    if stages.iter().all(|s| s.per_second == 0.0) {
        fail(field, "at least one stage needs a rate above 0")?;
    }
    Ok(())
}

/// Refuses the fields of the other workload kind, which would otherwise do nothing.
fn other_kind_fields(w: &Workload) -> Check {
    let (kind, other, present) = match w.kind {
        WorkloadKind::Closed => (
            "closed",
            "open",
            [
                ("arrivals", w.arrivals.is_some()),
                ("population", w.population.is_some()),
                ("session", w.session.is_some()),
            ]
            .to_vec(),
        ),
        WorkloadKind::Open => (
            "open",
            "closed",
            [
                ("users", w.users.is_some()),
                ("stages", w.stages.is_some()),
                ("stop", w.stop.is_some()),
                ("spawn_rate", w.spawn_rate.is_some()),
                ("think_time", w.think_time.is_some()),
                ("tasks", w.tasks.is_some()),
                ("iterations", w.iterations.is_some()),
            ]
            .to_vec(),
        ),
    };
    match present.iter().find(|(_, set)| *set) {
        Some((field, _)) => fail(
            format!("workload.{field}"),
            format!("`{field}` is a field of {other} workloads; a {kind} workload would ignore it"),
        ),
        None => Ok(()),
    }
}

fn workload(w: &Workload) -> Check {
    other_kind_fields(w)?;
    match w.kind {
        WorkloadKind::Closed => {
            closed_users(w)?;
            match &w.think_time {
                Some(t) => dist("workload.think_time", t)?,
                None => fail(
                    "workload.think_time",
                    "a closed workload needs `think_time`",
                )?,
            }
            let tasks = w.tasks.as_deref().unwrap_or_default();
            if tasks.is_empty() {
                fail(
                    "workload.tasks",
                    "a closed workload needs at least one task",
                )?;
            }
            for (i, t) in tasks.iter().enumerate() {
                positive(&format!("workload.tasks[{i}].weight"), t.weight)?;
                if t.turns == Some(0) || t.starts == Some(0) {
                    fail(
                        format!("workload.tasks[{i}]"),
                        "turns and starts must be at least 1",
                    )?;
                }
            }
            if w.iterations == Some(0) {
                fail("workload.iterations", "must be at least 1")?;
            }
        }
        WorkloadKind::Open => match &w.arrivals {
            None => fail("workload.arrivals", "an open workload needs `arrivals`")?,
            Some(Arrivals::PerSecond(r)) => positive("workload.arrivals.per_second", *r)?,
            Some(Arrivals::PerDay { sessions, diurnal }) => {
                positive("workload.arrivals.per_day.sessions", *sessions)?;
                // The peak hourly rate is sessions × weight × 24 / sum: every factor must stay
                // finite, or the thinning loop would never advance.
                if let Some(d) = diurnal
                    && (d.len() != 24
                        || d.iter().any(|x| *x < 0.0)
                        || !(d.iter().sum::<f64>() > 0.0 && d.iter().sum::<f64>().is_finite())
                        || d.iter().any(|x| !(sessions * x * 24.0).is_finite()))
                {
                    fail(
                        "workload.arrivals.per_day.diurnal",
                        "needs 24 non-negative hourly weights with a positive, finite sum",
                    )?;
                }
            }
            Some(Arrivals::Stages(stages)) => rate_stages(stages)?,
            Some(Arrivals::Piecewise(p)) => {
                if p.is_empty() || p[0].0.0 != 0.0 {
                    fail(
                        "workload.arrivals.piecewise",
                        "the first piece must start at 0s",
                    )?;
                }
                if p.windows(2).any(|w| w[1].0.0 <= w[0].0.0) || p.iter().any(|x| x.1 < 0.0) {
                    fail(
                        "workload.arrivals.piecewise",
                        "start times must increase and rates be non-negative",
                    )?;
                }
            }
        },
    }
    if let Some(t) = &w.turn_think_time {
        dist("workload.turn_think_time", t)?;
    }
    if w.on_error == Some(OnError::Retry) && w.turn_think_time.is_none() && w.think_time.is_none() {
        fail(
            "workload.on_error",
            "`retry` waits `turn_think_time` before sending a failed request again; set it",
        )?;
    }
    if w.population == Some(0) {
        fail("workload.population", "must be at least 1")?;
    }
    Ok(())
}
