//! Command-line interface (clap). Commands only parse arguments and call the library.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config;
use crate::runner::{self, Overrides};
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

/// Run settings that override the experiment files.
#[derive(Args)]
struct RunSettings {
    /// Master seed (overrides the file).
    #[arg(long)]
    seed: Option<u64>,
    /// Replications (overrides the file).
    #[arg(long)]
    replications: Option<u32>,
    /// Simulated time per replication, e.g. 30m or 2h (overrides the file).
    #[arg(long, value_parser = parse_duration)]
    horizon: Option<f64>,
}

impl From<RunSettings> for Overrides {
    fn from(r: RunSettings) -> Overrides {
        Overrides {
            seed: r.seed,
            replications: r.replications,
            horizon: r.horizon,
        }
    }
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
    /// Validate an experiment file and print the fully resolved model with each setting's source.
    #[command(after_help = "Example:\n  sim check experiments/phase2.yaml")]
    Check {
        /// Experiment file (YAML).
        file: PathBuf,
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
        } => {
            let all = config::load_all(&file)?;
            let overrides = Overrides::from(overrides);
            let several = all.len() > 1;
            let mut summaries = Vec::new();
            for loaded in all {
                let mut e = loaded.experiment;
                runner::apply(&mut e, &overrides)?;
                let output = runner::run(&e, !quiet && !json)?;
                let dir = match &out {
                    Some(d) if several => d.join(&e.name),
                    Some(d) => d.clone(),
                    None => Path::new("plots").join(&e.name),
                };
                let files = crate::report::write_outputs(&output, &dir)
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
            let overrides = Overrides::from(overrides);
            let mut summaries = Vec::new();
            for file in &files {
                for loaded in config::load_all(file)? {
                    let mut e = loaded.experiment;
                    runner::apply(&mut e, &overrides)?;
                    summaries.push(runner::run(&e, false)?.summary);
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
        Command::Check { file } => {
            let all = config::load_all(&file)?;
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
