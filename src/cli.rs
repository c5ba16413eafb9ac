//! Command-line interface (clap). Commands only parse arguments and call the library.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Overlay};
use crate::runner;
use crate::units::parse_duration;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "capsim: capacity simulation for LLM multi-agent apps on serverless platforms",
    after_help = "Examples:\n  sim run experiments/phase2.yaml\n  sim run experiments/phase2.yaml --replications 10 --seed 7 --out /tmp/p2\n  sim check experiments/phase2.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Settings that override the experiment files: overlays merged before validation.
#[derive(Args)]
struct RunSettings {
    /// Change any setting: PATH=VALUE, VALUE read as YAML (repeatable), e.g.
    /// `--set platform.max_concurrency=40 --set workload.users=300`.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = Overlay::parse_set)]
    set: Vec<Overlay>,
    /// Master seed, 0 to 2^64-1 (shorthand for `--set seed=N`).
    #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Replications (shorthand for `--set replications=N`).
    #[arg(long)]
    replications: Option<u32>,
    /// Simulated time per replication, e.g. 30m or 2h (shorthand for `--set horizon=...`;
    /// a fixed warm-up not shorter than it becomes 20 % of it).
    #[arg(long, value_parser = parse_duration)]
    horizon: Option<f64>,
}

impl RunSettings {
    /// The overlays, in order: every `--set`, then the shorthands.
    fn overlays(&self) -> Vec<Overlay> {
        let shorthands = [
            self.seed.map(Overlay::seed),
            self.replications.map(Overlay::replications),
            self.horizon.map(Overlay::horizon),
        ];
        self.set
            .iter()
            .cloned()
            .chain(shorthands.into_iter().flatten())
            .collect()
    }
}

/// A seed is a whole number from 0 to 2^64-1.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| {
        format!(
            "a seed is a whole number from 0 to 2^64-1 ({}), got `{text}`",
            u64::MAX
        )
    })
}

#[derive(Subcommand)]
enum Command {
    /// Simulate an experiment: print a summary, write summary.json, CSVs and PNG charts.
    #[command(
        after_help = "Examples:\n  sim run experiments/phase2.yaml\n  sim run experiments/daily-cost.yaml --horizon 2h --replications 3\n  sim run experiments/phase1.yaml --json > phase1.json\n\nOutputs go to plots/<experiment name>/ unless --out says otherwise; a finished folder is replaced only once the new one is complete."
    )]
    Run {
        /// Experiment file (YAML).
        file: PathBuf,
        /// Output folder (default: plots/<experiment name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        overrides: RunSettings,
        /// Print summary.json to stdout instead of the text summary (an array for variants).
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Replace the output folder even if capsim did not write it (deleting its contents).
        #[arg(long)]
        force: bool,
    },
    /// Run several experiments (and their variants) and print one row of key results each.
    #[command(
        after_help = "Examples:\n  sim compare experiments/phase2.yaml experiments/phase2-deployed.yaml\n  sim compare experiments/daily-cost.yaml --markdown"
    )]
    Compare {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
        #[command(flatten)]
        overrides: RunSettings,
    },
    /// Run the validation suite (experiments/validation/) against queueing theory.
    #[command(
        after_help = "Examples:\n  sim validate\n  sim validate --scale 0.1\n  sim validate --doc docs/VALIDATION.md"
    )]
    Validate {
        /// Multiply the stationary cases' horizons by this (smaller is faster, wider intervals).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Also write the table as Markdown to this file.
        #[arg(long)]
        doc: Option<PathBuf>,
    },
    /// Fit distributions to OpenTelemetry traces (OTLP/JSON) and write a capsim model file.
    #[command(
        after_help = "Example:\n  sim calibrate traces/orchestrator.jsonl -o models/calibrated-orchestrator.yaml\n\nSee docs/calibrate.md for the span attributes read and the fitting rules."
    )]
    Calibrate {
        /// Trace files: OTLP/JSON, one ExportTraceServiceRequest per line.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// The model file to write.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Validate an experiment file and print the fully resolved model with each setting's source.
    #[command(after_help = "Example:\n  sim check experiments/phase2.yaml")]
    Check {
        /// Experiment file (YAML).
        file: PathBuf,
        #[command(flatten)]
        overrides: RunSettings,
    },
}

/// Writes to stdout; a reader that went away (`sim run ... | head`) ends the program quietly
/// instead of failing.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::{ErrorKind, Write};
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        result => Ok(result?),
    }
}

/// Entry point of the binary.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            out,
            overrides,
            json,
            quiet,
            force,
        } => {
            let all = config::load_all_with(&file, &overrides.overlays())?;
            let several = all.len() > 1;
            let dir_of = |name: &str| match &out {
                Some(d) if several => d.join(name),
                Some(d) => d.clone(),
                None => Path::new("plots").join(name),
            };
            // Every output folder is checked before anything is simulated.
            let writer = crate::report::OutputWriter::new(force);
            for loaded in &all {
                writer.check(&dir_of(&loaded.experiment.name))?;
            }
            let mut summaries = Vec::new();
            for loaded in all {
                let e = loaded.experiment;
                let output = runner::run(&e, !quiet && !json)?;
                let dir = dir_of(&e.name);
                let files = writer
                    .write(&output, &dir)
                    .with_context(|| format!("writing results to {}", dir.display()))?;
                if json {
                    summaries.push(output.summary);
                } else {
                    emit(&crate::report::render_terminal(&output))?;
                    emit(&format!(
                        "Wrote {} files to {}/\n\n",
                        files.len(),
                        dir.display()
                    ))?;
                }
            }
            if json {
                // One document: the summary, or an array of summaries when the file has variants.
                let text = match summaries.as_slice() {
                    [one] => serde_json::to_string_pretty(one)?,
                    many => serde_json::to_string_pretty(many)?,
                };
                emit(&format!("{text}\n"))?;
            }
            Ok(())
        }
        Command::Compare {
            files,
            markdown,
            overrides,
        } => {
            let overlays = overrides.overlays();
            let mut summaries = Vec::new();
            for file in &files {
                for loaded in config::load_all_with(file, &overlays)? {
                    summaries.push(runner::run(&loaded.experiment, false)?.summary);
                }
            }
            emit(&crate::report::comparison_table(&summaries, markdown))?;
            Ok(())
        }
        Command::Validate { scale, doc } => {
            if !(scale > 0.0 && scale.is_finite()) {
                anyhow::bail!("--scale must be a positive number");
            }
            let checks = crate::validation::run_all(Path::new(crate::validation::SUITE), scale)?;
            emit(&crate::validation::table(&checks))?;
            if let Some(path) = doc {
                let command = if scale == 1.0 {
                    format!("sim validate --doc {}", path.display())
                } else {
                    format!("sim validate --scale {scale} --doc {}", path.display())
                };
                std::fs::write(&path, crate::validation::markdown(&checks, &command))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if checks.iter().any(|c| !c.pass) {
                anyhow::bail!("validation failed");
            }
            Ok(())
        }
        Command::Calibrate { traces, output } => {
            emit(&crate::calibrate::run(&traces, &output)?)?;
            emit(&format!("Wrote {}\n", output.display()))
        }
        Command::Check { file, overrides } => {
            let all = config::load_all_with(&file, &overrides.overlays())?;
            for loaded in &all {
                let mut text = format!("# ---- experiment `{}` ----\n", loaded.experiment.name);
                text.push_str(&config::to_yaml(&loaded.experiment)?);
                text.push_str("\n# Source of each setting:\n");
                for (field, source) in &loaded.provenance {
                    text.push_str(&format!("#   {field}: {}\n", source.display()));
                }
                emit(&text)?;
            }
            emit(&format!(
                "# {} is valid ({} experiment(s)).\n",
                file.display(),
                all.len()
            ))
        }
    }
}
