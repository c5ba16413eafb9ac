//! The validation suite: each file in `experiments/validation/` checked against a closed form.
//!
//! A case runs its experiment through the whole pipeline and compares named metrics with
//! theory. A check passes when the simulated 95 % confidence interval covers the theory value
//! or, where the interval is tighter than the simulator's own resolution, when the relative
//! error is under 1 % (percentiles come from HDR histograms with 3 significant digits).
//! Autoscaler cases compare the time-averaged instance count in windows where the
//! hand-worked trajectory is flat.
//!
//! A case is one file: its `theory:` block ([`TheorySpec`]) names the closed form and the
//! checks, and every parameter of the closed form is read from the file's own model
//! (`queue.rs`), so adding a case takes no code. `cases.rs` holds the one match over kinds;
//! `observed.rs` reads the simulated side from the run's output.

mod cases;
mod observed;
mod queue;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{self, Experiment};
use crate::runner;
use crate::stats::Estimate;
use crate::theory::TheorySpec;

/// Relative error accepted when the interval misses the theory value.
pub const TOLERANCE: f64 = 0.01;

/// Where the shipped suite lives, relative to the repository root.
pub const SUITE: &str = "experiments/validation";

/// One metric of one case against theory.
#[derive(Clone, Debug)]
pub struct Check {
    /// Experiment name.
    pub case: String,
    /// What is compared.
    pub metric: String,
    /// Closed-form value.
    pub theory: f64,
    /// Simulated estimate with its 95 % interval.
    pub simulated: Estimate,
    /// |simulated - theory| / theory.
    pub relative_error: f64,
    /// Interval covers theory, or relative error under [`TOLERANCE`].
    pub pass: bool,
}

impl Check {
    fn new(case: &str, metric: &str, theory: f64, simulated: Estimate) -> Check {
        let relative_error = (simulated.value - theory).abs() / theory.abs();
        Check {
            case: case.to_string(),
            metric: metric.to_string(),
            theory,
            simulated,
            relative_error,
            pass: simulated.contains(theory) || relative_error < TOLERANCE,
        }
    }
}

/// The experiment files (`*.yaml`) in `folder`, sorted by name.
pub fn case_files(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("reading {}", folder.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", folder.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A case ready to run: its file, its experiment, its theory block and the expectations
/// that block yields for the experiment's model.
struct Case {
    file: PathBuf,
    experiment: Experiment,
    theory: TheorySpec,
    expected: Vec<cases::Expectation>,
}

impl Case {
    /// Loads `file` and works out its expectations, or says why its model does not fit.
    fn load(file: PathBuf) -> anyhow::Result<Case> {
        let experiment = config::load(&file)?.experiment;
        let theory = experiment.theory.clone().with_context(|| {
            format!(
                "{}: a validation case needs a `theory:` block",
                file.display()
            )
        })?;
        let expected = cases::expectations(&theory, &experiment)
            .with_context(|| format!("{}: theory", file.display()))?;
        Ok(Case {
            file,
            experiment,
            theory,
            expected,
        })
    }

    /// Runs the case; `scale` shortens (or lengthens) stationary cases' horizons.
    fn run(mut self, scale: f64) -> anyhow::Result<Vec<Check>> {
        if cases::is_stationary(&self.theory) {
            let horizon = config::Overlay::horizon(self.experiment.horizon.0 * scale);
            self.experiment = config::load_with(&self.file, &[horizon])?.experiment;
        }
        let out = runner::run(&self.experiment, false)
            .with_context(|| format!("running {}", self.file.display()))?;
        let name = self.experiment.name.as_str();
        Ok(self
            .expected
            .into_iter()
            .map(|x| Check::new(name, &x.metric, x.theory, x.observed.read(&out)))
            .collect())
    }
}

/// Runs every case in `folder` (each file's `theory:` block says what to check), grouped by
/// theory kind and sorted by file name within a kind. Every file's block is checked against
/// its model before anything runs.
pub fn run_all(folder: &Path, scale: f64) -> anyhow::Result<Vec<Check>> {
    let mut all = Vec::new();
    for file in case_files(folder)? {
        all.push(Case::load(file)?);
    }
    all.sort_by_key(|c| cases::report_rank(&c.theory));
    let mut checks = Vec::new();
    for case in all {
        checks.extend(case.run(scale)?);
    }
    Ok(checks)
}

fn cells(c: &Check) -> [String; 6] {
    let ci = if c.simulated.ci95.iter().all(|x| x.is_finite()) {
        format!(
            "{:.4} [{:.4}, {:.4}]",
            c.simulated.value, c.simulated.ci95[0], c.simulated.ci95[1]
        )
    } else {
        format!("{:.4}", c.simulated.value)
    };
    [
        c.case.clone(),
        c.metric.clone(),
        format!("{:.4}", c.theory),
        ci,
        format!("{:.2} %", c.relative_error * 100.0),
        if c.pass { "pass" } else { "FAIL" }.to_string(),
    ]
}

const HEADER: [&str; 6] = [
    "case",
    "metric",
    "theory",
    "simulated (95 % CI)",
    "rel. error",
    "result",
];

fn rows(checks: &[Check]) -> Vec<Vec<String>> {
    std::iter::once(HEADER.map(str::to_string).to_vec())
        .chain(checks.iter().map(|c| cells(c).to_vec()))
        .collect()
}

/// The checks as an aligned plain-text table.
pub fn table(checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| !c.pass).count();
    format!(
        "{}{} passed, {} failed\n",
        crate::report::table::aligned(&rows(checks)),
        checks.len() - failed,
        failed
    )
}

/// The checks as a Markdown document naming the command that made it.
pub fn markdown(checks: &[Check], command: &str) -> String {
    let mut out = String::from("# Validation against queueing theory\n\n");
    out.push_str(&format!(
        "Generated by `{command}`; do not edit by hand. Each case is a file in \
`experiments/validation/` run through the whole pipeline (file, model, replications, \
summary). A check passes when the simulated 95 % confidence interval across replications \
covers the theory value, or when the relative error is under {:.0} % (percentiles carry the \
HDR histograms' 3-significant-digit resolution; autoscaler cases compare time-averaged \
instance counts in windows where the hand-worked trajectory is flat).\n\n",
        TOLERANCE * 100.0
    ));
    out.push_str(&crate::report::table::markdown(&rows(checks)));
    let failed = checks.iter().filter(|c| !c.pass).count();
    out.push_str(&format!(
        "\n{} checks: {} passed, {} failed.\n",
        checks.len(),
        checks.len() - failed,
        failed
    ));
    out
}

#[cfg(test)]
mod tests;
