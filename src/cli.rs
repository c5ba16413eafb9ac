//! Command-line interface (clap). Commands only parse arguments and call the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::budget::{self, Budget};
use crate::config::{self, Experiment, Overlay};
use crate::runner;
use crate::study::checkpoint::Checkpoint;
use crate::study::shard::{Shard, ShardChoice};
use crate::units::{Bytes, parse_duration};

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "capsim: capacity simulation for LLM multi-agent apps on serverless platforms",
    after_help = "Examples:\n  sim run experiments/phase2.yaml\n  sim run experiments/phase2.yaml --replications 10 --seed 7 --out /tmp/p2\n  sim check experiments/phase2.yaml\n\nRAYON_NUM_THREADS sets the number of worker threads (1 to 512; results do not depend on it)."
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

/// Limits of the resource budget a run is checked against before it starts.
#[derive(Args)]
struct BudgetArgs {
    /// Memory a run may be estimated to need, e.g. 16GiB (default 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    budget_memory: Option<Bytes>,
    /// Allow runs estimated past 10^10 events (hours of computing).
    #[arg(long)]
    allow_long: bool,
}

impl BudgetArgs {
    fn budget(&self) -> Budget {
        let default = Budget::default();
        Budget {
            memory: self.budget_memory.map_or(default.memory, |b| b.0),
            events: if self.allow_long {
                f64::INFINITY
            } else {
                default.events
            },
        }
    }
}

/// A size with a unit, e.g. 16GiB.
fn parse_size(text: &str) -> Result<Bytes, String> {
    text.parse()
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

/// Where and how a study (`sweep`, `capacity`) writes.
#[derive(Args)]
struct StudyArgs {
    /// Output folder (default: plots/<file's name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: RAYON_NUM_THREADS, else one per core); results do not depend
    /// on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=512))]
    threads: Option<u16>,
    /// Print the study's JSON (sweep.json, capacity.json) to stdout instead of the table;
    /// writes no files unless --out (or --resume, or --shard) is given.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Replace the output folder even if capsim did not write it (deleting its contents).
    #[arg(long)]
    force: bool,
}

impl StudyArgs {
    fn output(&self) -> Output {
        Output {
            json: self.json,
            quiet: self.quiet,
            force: self.force,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Simulate an experiment: print a summary, write summary.json, CSVs and PNG charts.
    #[command(
        after_help = "Examples:\n  sim run experiments/phase2.yaml\n  sim run experiments/daily-cost.yaml --horizon 2h --replications 3\n  sim run experiments/phase1.yaml --json > phase1.json\n  sim run experiments/phase2.yaml --fail-on-slo --quiet\n\nOutputs go to plots/<experiment name>/ unless --out says otherwise (with --json, only to --out); a finished folder is replaced only once the new one is complete.\nExit codes: 0 done, 1 error, 2 bad usage, 3 SLO missed under --fail-on-slo."
    )]
    Run {
        /// Experiment file (YAML).
        file: PathBuf,
        /// Output folder (default: plots/<experiment name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        overrides: RunSettings,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Print summary.json to stdout instead of the text summary (an array for variants);
        /// writes no files unless --out is given.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Replace the output folder even if capsim did not write it (deleting its contents).
        #[arg(long)]
        force: bool,
        /// Exit with code 3 when the SLO is missed (by any variant), after printing and
        /// writing the results as usual, so a pipeline can gate on the projection.
        #[arg(long)]
        fail_on_slo: bool,
    },
    /// Run several experiments (and their variants) and print one row of key results each.
    #[command(
        after_help = "Examples:\n  sim compare experiments/phase2.yaml experiments/phase2-deployed.yaml\n  sim compare experiments/daily-cost.yaml --markdown\n  sim compare experiments/phase2.yaml experiments/phase2-deployed.yaml --out plots/plan-vs-deployed\n\nWrites files only with --out: compare.csv, compare.json and compare.png (turn p95 and cost per session side by side)."
    )]
    Compare {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a Markdown table.
        #[arg(long, conflicts_with_all = ["csv", "json"])]
        markdown: bool,
        /// Print the tidy table as CSV (the columns of sweep.csv).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print the tidy table as JSON (the rows of sweep.json).
        #[arg(long)]
        json: bool,
        /// Also write compare.csv, compare.json and the side-by-side chart compare.png (turn
        /// p95 and cost per session per run) into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the --out folder even if capsim did not write it (deleting its contents).
        #[arg(long, requires = "out")]
        force: bool,
        #[command(flatten)]
        overrides: RunSettings,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Run every point of a sweep (or every variant of a file) on one pool of workers and write
    /// the tidy table sweep.csv / sweep.json and each point's summary.json.
    #[command(
        after_help = "Examples:\n  sim sweep experiments/sweeps/concurrency.yaml\n  sim sweep experiments/phase2.yaml --set 'sweep.grid.workload.users=[100, 200, 300]' --threads 2\n\nOutputs go to plots/<file's name>/ unless --out says otherwise: sweep.csv, sweep.json, sweep.png and points/<point>/summary.json; a finished folder is replaced only once the new one is complete."
    )]
    Sweep {
        /// Experiment file (YAML) with a `sweep` block or `variants`.
        file: PathBuf,
        #[command(flatten)]
        study: StudyArgs,
        /// Keep the points an interrupted run of the same sweep finished, and run only the
        /// rest (each finished point is stored as it completes).
        #[arg(long)]
        resume: bool,
        /// Run only shard I of N (points I-1, I-1+N, ...) and write a shard folder for
        /// `sim merge` (default plots/<file's name>.shard-I-of-N/); `auto` reads the shard
        /// from a Slurm job array or a Kubernetes Indexed Job (with CAPSIM_SHARDS).
        #[arg(long, value_name = "I/N|auto", value_parser = ShardChoice::parse)]
        shard: Option<ShardChoice>,
        #[command(flatten)]
        overrides: RunSettings,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Combine the shard folders of `sim sweep --shard` into the files one machine writes.
    #[command(
        after_help = "Example:\n  sim merge plots/concurrency.shard-1-of-2 plots/concurrency.shard-2-of-2\n\nRefuses folders that are not shards, shards of another file, settings, seed or capsim version, and names missing shards.\nOutputs go to plots/<file's name>/ unless --out says otherwise."
    )]
    Merge {
        /// Shard folders, one per shard, in any order.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output folder (default: plots/<file's name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print sweep.json to stdout instead of the table.
        #[arg(long)]
        json: bool,
        /// Replace the output folder even if capsim did not write it (deleting its contents).
        #[arg(long)]
        force: bool,
    },
    /// Find the largest load each configuration (each sweep point, or the file itself) serves
    /// within the file's SLO, by steady-state probes: capacity.csv, capacity.json, probes.csv
    /// and the capacity charts.
    #[command(
        after_help = "Examples:\n  sim capacity experiments/sweeps/capacity.yaml\n  sim capacity experiments/phase2.yaml --set slo.turn_p95=10s --resolution 5%\n\nA load meets the SLO when the far end of each bounded metric's 95 % interval is within the bound; the point-estimate capacity is reported beside it.\nOutputs go to plots/<file's name>/ unless --out says otherwise."
    )]
    Capacity {
        /// Experiment file (YAML) with an `slo` and, optionally, a `sweep` of configurations.
        file: PathBuf,
        #[command(flatten)]
        study: StudyArgs,
        /// Stop when the capacity is known to this share of the load (at least one user).
        #[arg(long, default_value = "2%", value_parser = parse_share)]
        resolution: f64,
        /// Keep the probes an interrupted search of the same file finished, and run only the
        /// rest (each probe is stored as it completes).
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        overrides: RunSettings,
        #[command(flatten)]
        budget: BudgetArgs,
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
        #[command(flatten)]
        budget: BudgetArgs,
    },
}

/// Most worker threads `RAYON_NUM_THREADS` may ask for (results do not depend on the count;
/// more threads than this only exhaust the process's resources).
const MAX_THREADS: usize = 512;

/// Standard output went away while writing (`sim run ... | head`): not an error.
#[derive(Debug, thiserror::Error)]
#[error("the reader of standard output went away")]
struct ReaderGone;

/// Writes to stdout; a reader that went away (`sim run ... | head`) is reported as
/// [`ReaderGone`], which ends the program quietly.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::{ErrorKind, Write};
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(ReaderGone.into()),
        result => Ok(result.context("writing to standard output")?),
    }
}

/// Whether standard output was open when `sim` started. The Rust runtime reopens a closed
/// descriptor 1 (`sim run >&-`) as `/dev/null` for reading and writing before `main`, so
/// every result would vanish silently; a shell's `>/dev/null` opens it write-only, which stays
/// allowed.
fn stdout_is_open() -> bool {
    use rustix::fs::{FileType, OFlags, fcntl_getfl, fstat, stat};
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let (Ok(flags), Ok(ours), Ok(null)) = (fcntl_getfl(fd), fstat(fd), stat("/dev/null")) else {
        return true;
    };
    let is_null = FileType::from_raw_mode(ours.st_mode) == FileType::CharacterDevice
        && ours.st_rdev == null.st_rdev;
    !(is_null && flags.contains(OFlags::RDWR))
}

/// Sizes rayon's global pool from `RAYON_NUM_THREADS`, refusing counts past [`MAX_THREADS`]
/// (rayon itself panics when it cannot spawn them).
fn configure_threads() -> anyhow::Result<()> {
    if let Ok(text) = std::env::var("RAYON_NUM_THREADS")
        && let Ok(n) = text.trim().parse::<usize>()
        && n > MAX_THREADS
    {
        anyhow::bail!(
            "RAYON_NUM_THREADS={n}: capsim uses at most {MAX_THREADS} threads (results are the same for any count)"
        );
    }
    rayon::ThreadPoolBuilder::new()
        .build_global()
        .context("starting the worker threads (RAYON_NUM_THREADS)")
}

/// Entry point of the binary: parses the command line, runs one command and returns the exit
/// code (0 done, 1 error, 2 bad usage, 3 SLO missed under `sim run --fail-on-slo`). Messages that cannot be written (`2>/dev/full`) are
/// dropped; the exit code still tells.
pub fn main() -> ExitCode {
    use std::io::Write;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1));
        }
    };
    let result = if stdout_is_open() {
        dispatch(cli.command)
    } else {
        Err(anyhow::anyhow!(
            "standard output is closed; redirect it to a file, or to /dev/null to discard it"
        ))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<ReaderGone>() => ExitCode::SUCCESS,
        Err(e) if e.is::<SloMissed>() => {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(SLO_MISSED_EXIT)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command.
fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            file,
            out,
            overrides,
            budget,
            json,
            quiet,
            force,
            fail_on_slo,
        } => run(
            &file,
            out.as_deref(),
            &overrides,
            &budget,
            Output { json, quiet, force },
            fail_on_slo,
        ),
        Command::Compare {
            files,
            markdown,
            csv,
            json,
            out,
            force,
            overrides,
            budget,
        } => {
            let form = match (markdown, csv, json) {
                (true, _, _) => TableForm::Markdown,
                (_, true, _) => TableForm::Csv,
                (_, _, true) => TableForm::Json,
                _ => TableForm::Text,
            };
            let out = out.map(|dir| (dir, crate::report::OutputWriter::new(force)));
            compare(&files, form, out.as_ref(), &overrides, &budget)
        }
        Command::Sweep {
            file,
            study,
            resume,
            shard,
            overrides,
            budget,
        } => match shard {
            Some(choice) => sweep_shard(&file, &study, resume, choice, &overrides, &budget),
            None => sweep(&file, &study, resume, &overrides, &budget),
        },
        Command::Merge {
            shards,
            out,
            json,
            force,
        } => merge(&shards, out.as_deref(), json, force),
        Command::Capacity {
            file,
            study,
            resolution,
            resume,
            overrides,
            budget,
        } => capacity(&file, &study, resolution, resume, &overrides, &budget),
        Command::Validate { scale, doc } => validate(scale, doc.as_deref()),
        Command::Calibrate { traces, output } => calibrate(&traces, &output),
        Command::Check {
            file,
            overrides,
            budget,
        } => check(&file, &overrides, &budget),
    }
}

/// Estimates what `e` (from `file`) needs on the configured threads and refuses it past the
/// budget, naming the file.
fn within_budget(
    file: &Path,
    e: &Experiment,
    budget: &BudgetArgs,
) -> anyhow::Result<budget::Estimate> {
    let estimate = budget::estimate(e, rayon::current_num_threads());
    budget
        .budget()
        .check(&e.name, &estimate)
        .with_context(|| file.display().to_string())?;
    Ok(estimate)
}

/// How `sim run` reports and writes.
#[derive(Clone, Copy)]
struct Output {
    /// Print summary.json instead of the text summary.
    json: bool,
    /// No progress bar.
    quiet: bool,
    /// Replace an output folder capsim did not write.
    force: bool,
}

/// `sim run`: simulates each experiment of the file and writes its output folder. Every
/// output folder and budget is checked before anything is simulated.
fn run(
    file: &Path,
    out: Option<&Path>,
    overrides: &RunSettings,
    budget: &BudgetArgs,
    how: Output,
    fail_on_slo: bool,
) -> anyhow::Result<()> {
    let all = config::load_all_with(file, &overrides.overlays())?;
    configure_threads()?;
    if fail_on_slo && let Some(loaded) = all.iter().find(|l| !l.experiment.slo.bounds_anything()) {
        anyhow::bail!(
            "--fail-on-slo: experiment `{}` of {} sets no `slo` bound to gate on",
            loaded.experiment.name,
            file.display()
        );
    }
    let several = all.len() > 1;
    // With --json the summary goes to stdout; files are written only where --out asks.
    let writes = !how.json || out.is_some();
    let dir_of = |name: &str| match out {
        Some(d) if several => d.join(name),
        Some(d) => d.to_path_buf(),
        None => Path::new("plots").join(name),
    };
    let writer = crate::report::OutputWriter::new(how.force);
    for loaded in &all {
        if writes {
            writer.check(&dir_of(&loaded.experiment.name))?;
        }
        within_budget(file, &loaded.experiment, budget)?;
    }
    let mut summaries = Vec::new();
    for loaded in all {
        let e = loaded.experiment;
        let output = runner::run(&e, !how.quiet && !how.json)?;
        let dir = dir_of(&e.name);
        let files = if writes {
            writer
                .write(&output, &dir)
                .with_context(|| format!("writing results to {}", dir.display()))?
        } else {
            Vec::new()
        };
        if !how.json {
            emit(&crate::report::render_terminal(&output))?;
            emit(&format!(
                "Wrote {} files to {}/\n\n",
                files.len(),
                dir.display()
            ))?;
        }
        summaries.push(output.summary);
    }
    if how.json {
        // One document: the summary, or an array of summaries when the file has variants.
        let text = match summaries.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            many => serde_json::to_string_pretty(many)?,
        };
        emit(&format!("{text}\n"))?;
    }
    let missed: Vec<&str> = summaries
        .iter()
        .filter(|s| !s.slo.met)
        .map(|s| s.experiment.as_str())
        .collect();
    if fail_on_slo && !missed.is_empty() {
        return Err(SloMissed(missed.join(", ")).into());
    }
    Ok(())
}

/// `sim run --fail-on-slo` found a missed SLO: exit code [`SLO_MISSED_EXIT`].
#[derive(Debug, thiserror::Error)]
#[error("the SLO is missed by {0} (--fail-on-slo)")]
struct SloMissed(String);

/// Exit code of a run whose SLO is missed under `--fail-on-slo`.
const SLO_MISSED_EXIT: u8 = 3;

/// `sim calibrate`: fits the traces and writes the model file.
fn calibrate(traces: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    emit(&crate::calibrate::run(traces, output)?)?;
    emit(&format!("Wrote {}\n", output.display()))
}

/// How `sim compare` prints its table.
#[derive(Clone, Copy)]
enum TableForm {
    Text,
    Markdown,
    Csv,
    Json,
}

/// `sim compare`: runs every experiment of every file and prints one row each.
fn compare(
    files: &[PathBuf],
    form: TableForm,
    out: Option<&(PathBuf, crate::report::OutputWriter)>,
    overrides: &RunSettings,
    budget: &BudgetArgs,
) -> anyhow::Result<()> {
    let overlays = overrides.overlays();
    let mut experiments = Vec::new();
    for file in files {
        for loaded in config::load_all_with(file, &overlays)? {
            experiments.push((file, loaded));
        }
    }
    configure_threads()?;
    for (file, loaded) in &experiments {
        within_budget(file, &loaded.experiment, budget)?;
    }
    let all: Vec<Experiment> = experiments
        .into_iter()
        .map(|(_, loaded)| loaded.experiment)
        .collect();
    if let Some((dir, writer)) = out {
        writer.check(dir)?;
    }
    let summaries = crate::study::sweep::run_all(&all, false)?;
    if let Some((dir, writer)) = out {
        crate::report::study::ComparisonReport {
            summaries: &summaries,
        }
        .write(writer, dir)
        .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    let table = || crate::report::columns::table(&summaries);
    match form {
        TableForm::Text => emit(&crate::report::comparison_table(&summaries, false)),
        TableForm::Markdown => emit(&crate::report::comparison_table(&summaries, true)),
        TableForm::Csv => emit(&table().to_csv()),
        TableForm::Json => emit(&format!("{}\n", table().to_json()?)),
    }
}

/// `sim sweep`: runs every experiment of the file on one pool and writes the study's folder.
fn sweep(
    file: &Path,
    args: &StudyArgs,
    resume: bool,
    overrides: &RunSettings,
    budget: &BudgetArgs,
) -> anyhow::Result<()> {
    let how = args.output();
    let Prepared {
        study,
        dir,
        writer,
        pool,
        experiments,
    } = prepare_study(file, args, None, resume, overrides, budget)?;
    let checkpoint = dir.as_deref().map(Checkpoint::beside);
    let (summaries, resumed) = run_points(&pool, &experiments, checkpoint.as_ref(), resume, how)?;
    let report = crate::report::study::SweepReport {
        study: &study,
        experiments: &experiments,
        summaries: &summaries,
    };
    let written = write_study(dir.as_deref(), checkpoint.as_ref(), |dir| {
        report.write(&writer, dir)
    })?;
    if resume && !how.json {
        emit(&format!(
            "Resumed {resumed} of {} points finished by an interrupted run.\n\n",
            experiments.len()
        ))?;
    }
    print_sweep(
        &report,
        written.as_ref().map(|(f, d)| (f.as_slice(), *d)),
        how.json,
    )
}

/// Writes a study's folder with `write` when it has one (`dir`), then removes the runs its
/// checkpoint kept; the files written and the folder.
fn write_study<'d>(
    dir: Option<&'d Path>,
    checkpoint: Option<&Checkpoint>,
    write: impl FnOnce(&Path) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<Option<(Vec<String>, &'d Path)>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let files = write(dir).with_context(|| format!("writing results to {}", dir.display()))?;
    if let Some(checkpoint) = checkpoint {
        checkpoint.finish()?;
    }
    Ok(Some((files, dir)))
}

/// Runs `experiments` on `pool`, storing each finished point in `checkpoint` (and with
/// `resume`, reading those stored by an interrupted run); the summaries, and how many points
/// were resumed.
fn run_points(
    pool: &rayon::ThreadPool,
    experiments: &[Experiment],
    checkpoint: Option<&Checkpoint>,
    resume: bool,
    how: Output,
) -> anyhow::Result<(Vec<crate::results::Summary>, usize)> {
    let summaries = pool.install(|| {
        crate::study::sweep::run_all_with(experiments, !how.quiet && !how.json, checkpoint, resume)
    })?;
    Ok((summaries, checkpoint.map_or(0, Checkpoint::reused)))
}

/// Prints a sweep: its JSON, or the table and where the files went (`written`).
fn print_sweep(
    report: &crate::report::study::SweepReport,
    written: Option<(&[String], &Path)>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return emit(&format!("{}\n", report.to_json()?));
    }
    emit(&crate::report::comparison_table(report.summaries, false))?;
    match written {
        Some((files, dir)) => emit(&format!(
            "\nWrote {} files to {}/ (sweep.csv: one row per point)\n",
            files.len(),
            dir.display()
        )),
        None => Ok(()),
    }
}

/// `sim sweep --shard`: runs this shard's points and writes its shard folder.
fn sweep_shard(
    file: &Path,
    args: &StudyArgs,
    resume: bool,
    choice: ShardChoice,
    overrides: &RunSettings,
    budget: &BudgetArgs,
) -> anyhow::Result<()> {
    let shard = choice.resolve()?;
    let how = args.output();
    let Prepared {
        study,
        dir,
        writer,
        pool,
        experiments,
    } = prepare_study(file, args, Some(shard), resume, overrides, budget)?;
    let owned: Vec<usize> = (0..experiments.len()).filter(|&p| shard.owns(p)).collect();
    let mine: Vec<Experiment> = owned.iter().map(|&p| experiments[p].clone()).collect();
    let dir = dir.expect("a shard's folder is always written");
    let checkpoint = Checkpoint::beside(&dir);
    let (summaries, resumed) = run_points(&pool, &mine, Some(&checkpoint), resume, how)?;
    let finished: Vec<(usize, crate::results::Summary)> =
        owned.iter().copied().zip(summaries).collect();
    let report = crate::report::shard::ShardReport {
        manifest: crate::report::shard::ShardManifest {
            capsim_version: env!("CARGO_PKG_VERSION").into(),
            study: study.clone(),
            file: file.display().to_string(),
            seed: experiments.first().map_or(0, |e| e.seed),
            shard,
            points: experiments.len(),
            study_fingerprint: crate::report::shard::study_fingerprint(&experiments),
        },
        experiments: &experiments,
        finished: &finished,
    };
    report
        .write(&writer, &dir)
        .with_context(|| format!("writing shard {shard} to {}", dir.display()))?;
    checkpoint.finish()?;
    let rows: Vec<crate::results::Summary> = finished.iter().map(|(_, s)| s.clone()).collect();
    if how.json {
        return emit(&format!(
            "{}\n",
            crate::report::columns::table(&rows).to_json()?
        ));
    }
    emit(&crate::report::comparison_table(&rows, false))?;
    emit(&format!(
        "\nShard {shard}: {} of {} points{}, written to {}/; once every shard is done: \
         sim merge <the {} shard folders>\n",
        finished.len(),
        experiments.len(),
        if resumed > 0 {
            format!(" ({resumed} resumed)")
        } else {
            String::new()
        },
        dir.display(),
        shard.count
    ))
}

/// `sim merge`: puts a sharded sweep back together and writes its folder.
fn merge(shards: &[PathBuf], out: Option<&Path>, json: bool, force: bool) -> anyhow::Result<()> {
    let merged = crate::report::shard::merge(shards)?;
    let dir = out.map_or_else(|| Path::new("plots").join(&merged.study), Path::to_path_buf);
    let writer = crate::report::OutputWriter::new(force);
    writer.check(&dir)?;
    let report = crate::report::study::SweepReport {
        study: &merged.study,
        experiments: &merged.experiments,
        summaries: &merged.summaries,
    };
    let files = report
        .write(&writer, &dir)
        .with_context(|| format!("writing results to {}", dir.display()))?;
    print_sweep(&report, Some((&files, &dir)), json)
}

/// `sim validate`: the validation suite against queueing theory.
fn validate(scale: f64, doc: Option<&Path>) -> anyhow::Result<()> {
    if !(scale > 0.0 && scale.is_finite()) {
        anyhow::bail!("--scale must be a positive number");
    }
    configure_threads()?;
    let checks = crate::validation::run_all(Path::new(crate::validation::SUITE), scale)?;
    emit(&crate::validation::table(&checks))?;
    if let Some(path) = doc {
        let command = if scale == 1.0 {
            format!("sim validate --doc {}", path.display())
        } else {
            format!("sim validate --scale {scale} --doc {}", path.display())
        };
        std::fs::write(path, crate::validation::markdown(&checks, &command))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if checks.iter().any(|c| !c.pass) {
        anyhow::bail!("validation failed");
    }
    Ok(())
}

/// `sim check`: validates the file and prints each resolved experiment with its sources.
fn check(file: &Path, overrides: &RunSettings, budget: &BudgetArgs) -> anyhow::Result<()> {
    let all = config::load_all_with(file, &overrides.overlays())?;
    configure_threads()?;
    for loaded in &all {
        let estimate = within_budget(file, &loaded.experiment, budget)?;
        let mut text = format!("# ---- experiment `{}` ----\n", loaded.experiment.name);
        text.push_str(&config::to_yaml(&loaded.experiment)?);
        text.push_str("\n# Source of each setting:\n");
        for (field, source) in &loaded.provenance {
            text.push_str(&format!("#   {field}: {}\n", source.display()));
        }
        text.push_str(&format!("# Estimated need: {estimate}.\n"));
        emit(&text)?;
    }
    emit(&format!(
        "# {} is valid ({} experiment(s)).\n",
        file.display(),
        all.len()
    ))
}

/// A study ready to run: its name, output folder (checked; none when `--json` without
/// `--out` asks for stdout only), writer, pool and experiments.
struct Prepared {
    study: String,
    dir: Option<PathBuf>,
    writer: crate::report::OutputWriter,
    pool: rayon::ThreadPool,
    experiments: Vec<Experiment>,
}

/// Loads a study's file, starts its pool and checks its output folder and budgets.
fn prepare_study(
    file: &Path,
    args: &StudyArgs,
    shard: Option<Shard>,
    resume: bool,
    overrides: &RunSettings,
    budget: &BudgetArgs,
) -> anyhow::Result<Prepared> {
    let all = config::load_all_with(file, &overrides.overlays())?;
    let pool = worker_pool(args.threads)?;
    let study = crate::report::study::name_of(&all);
    let dir = args.out.clone().unwrap_or_else(|| match shard {
        Some(s) => Path::new("plots").join(format!("{study}.shard-{}", s.label())),
        None => Path::new("plots").join(&study),
    });
    let writer = crate::report::OutputWriter::new(args.force);
    // `--json` alone prints and writes nothing; a shard's folder and a resumed folder are
    // what the command is for, so they are always written.
    let writes = !args.json || args.out.is_some() || shard.is_some() || resume;
    let dir = writes.then_some(dir);
    if let Some(dir) = &dir {
        writer.check(dir)?;
    }
    for loaded in &all {
        within_budget(file, &loaded.experiment, budget)?;
    }
    Ok(Prepared {
        study,
        dir,
        writer,
        pool,
        experiments: all.into_iter().map(|l| l.experiment).collect(),
    })
}

/// The pool a study runs on: `--threads N`, else as `RAYON_NUM_THREADS` says.
fn worker_pool(threads: Option<u16>) -> anyhow::Result<rayon::ThreadPool> {
    configure_threads()?;
    let builder = rayon::ThreadPoolBuilder::new();
    let builder = match threads {
        Some(n) => builder.num_threads(usize::from(n)),
        None => builder,
    };
    builder.build().context("starting the worker threads")
}

/// A share such as `2%` or `0.02`, above 0 and below 1.
fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("expected a share such as 2% or 0.02, got `{text}`"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "a resolution is above 0 % and below 100 %, got `{text}`"
        ))
    }
}

/// `sim capacity`: searches every configuration's capacity and writes the study's folder.
fn capacity(
    file: &Path,
    args: &StudyArgs,
    resolution: f64,
    resume: bool,
    overrides: &RunSettings,
    budget: &BudgetArgs,
) -> anyhow::Result<()> {
    use crate::study::capacity::{Search, search_all};
    let how = args.output();
    let Prepared {
        study,
        dir,
        writer,
        pool,
        experiments,
    } = prepare_study(file, args, None, resume, overrides, budget)?;
    let search = Search {
        resolution,
        ..Search::default()
    };
    if !how.quiet && !how.json && std::io::stderr().is_terminal() {
        eprintln!(
            "searching the capacity of {} configuration(s) of {study}...",
            experiments.len()
        );
    }
    let checkpoint = dir.as_deref().map(Checkpoint::beside);
    let results = pool.install(|| search_all(&experiments, search, checkpoint.as_ref(), resume))?;
    let report = crate::report::capacity::CapacityReport {
        study: &study,
        experiments: &experiments,
        results: &results,
    };
    let resumed = checkpoint.as_ref().map_or(0, Checkpoint::reused);
    let written = write_study(dir.as_deref(), checkpoint.as_ref(), |dir| {
        report.write(&writer, dir)
    })?;
    if how.json {
        return emit(&format!("{}\n", report.to_json()?));
    }
    if resume {
        emit(&format!(
            "Resumed {resumed} probes finished by an interrupted search.\n\n"
        ))?;
    }
    emit(&report.render())?;
    match written {
        Some((files, dir)) => emit(&format!(
            "\nWrote {} files to {}/\n",
            files.len(),
            dir.display()
        )),
        None => Ok(()),
    }
}
