//! capsim's speed, measured side by side in one process (issue 11). Every capsim figure is
//! the whole pipeline of `sim run`: load and validate the file, compile, run the
//! replications on a rayon pool of the stated size, aggregate, and write every output file
//! (summary, CSVs, charts) into a temporary folder with `report::OutputWriter`.
//!
//! - `mmc`: experiments/validation/mmc-10-0.8.yaml (2,000,000 customers over 10
//!   replications) on 1 thread against the bare `BinaryHeap` loop of `bare_loop.rs` for the
//!   same customers, and the file on 2 threads against 1.
//! - `app`: the app as deployed at 1,000,000 sessions a day over 24 h
//!   (experiments/daily-cost.yaml with `arrivals.per_day.sessions=1000000`): one replication
//!   on 1 thread, and two replications on 2 threads.
//! - `phase2`: experiments/phase2.yaml on 1 and 2 threads.
//! - `sweep`: `sim sweep`'s whole pipeline (load and expand, run every (point, replication)
//!   task on one pool, write sweep.csv, sweep.json, every point's summary and the charts) on
//!   an 8-point M/M/4 sweep of the arrival rate, 2 replications of 100,000 s per point, on 2
//!   threads against 1.
//!
//! `cargo bench --bench speed -- [--repeats N] [--only mmc|app|phase2|sweep]`. Each scenario runs
//! its contenders alternately `N` times (default 5) and prints medians; ratios are medians
//! of the per-repeat ratios, so load from other processes cancels out as far as it can.
//! Beside wall time each run reports the process's CPU time (user + system, from
//! `/proc/self/stat`), which waiting for a core shared with other work does not inflate.

mod bare_loop;

use std::path::{Path, PathBuf};
use std::time::Instant;

use capsim::config::Overlay;
use clap::Parser;

/// Customers of the M/M/c file: 10 replications of 25,000 s at 8 per second.
const MMC_CUSTOMERS: u64 = 2_000_000;

#[derive(Parser)]
struct Args {
    /// Times each contender runs.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Run one scenario only.
    #[arg(long, value_parser = ["mmc", "app", "phase2", "sweep"])]
    only: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Linux's fixed user-visible clock tick for `/proc` CPU times (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time this process has used so far (user + system), seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at field 3; utime and
    // stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields[i - 3].parse::<f64>().expect("a tick count");
    (ticks(14) + ticks(15)) / TICKS_PER_SECOND
}

/// Wall and CPU seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let out = f();
    (out, wall.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

/// One timed run of capsim's whole pipeline.
struct Timed {
    seconds: f64,
    cpu: f64,
    events: u64,
}

impl Timed {
    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    fn events_per_cpu_second(&self) -> f64 {
        self.events as f64 / self.cpu
    }
}

/// An experiment file of the repository with `--set` overlays.
struct Case {
    file: PathBuf,
    sets: Vec<&'static str>,
}

impl Case {
    fn new(file: &str, sets: &[&'static str]) -> Self {
        Self {
            file: Path::new(env!("CARGO_MANIFEST_DIR")).join(file),
            sets: sets.to_vec(),
        }
    }

    /// Runs the whole pipeline on a rayon pool of `threads` threads.
    fn run(&self, threads: usize) -> Timed {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let out = tempfile::tempdir().expect("a temporary folder");
        let overlays: Vec<Overlay> = self
            .sets
            .iter()
            .map(|s| Overlay::parse_set(s).expect("valid --set"))
            .collect();
        let (events, seconds, cpu) = timed(|| {
            pool.install(|| {
                let loaded = capsim::config::load_all_with(&self.file, &overlays).expect("loads");
                let experiment = &loaded.last().expect("an experiment").experiment;
                let output = capsim::runner::run(experiment, false).expect("runs");
                capsim::report::OutputWriter::new(false)
                    .write(&output, &out.path().join("result"))
                    .expect("writes");
                output.summary.events
            })
        });
        Timed {
            seconds,
            cpu,
            events,
        }
    }
}

/// The whole `sim sweep` pipeline over every point of `case` on `threads` threads; wall and
/// CPU seconds.
fn sweep_run(case: &Case, threads: usize) -> (f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    let out = tempfile::tempdir().expect("a temporary folder");
    let overlays: Vec<Overlay> = case
        .sets
        .iter()
        .map(|s| Overlay::parse_set(s).expect("valid --set"))
        .collect();
    let ((), seconds, cpu) = timed(|| {
        pool.install(|| {
            let loaded = capsim::config::load_all_with(&case.file, &overlays).expect("loads");
            let study = capsim::report::study::name_of(&loaded);
            let experiments: Vec<_> = loaded.into_iter().map(|l| l.experiment).collect();
            let summaries = capsim::study::sweep::run_all(&experiments, false).expect("runs");
            capsim::report::study::SweepReport {
                study: &study,
                experiments: &experiments,
                summaries: &summaries,
            }
            .write(
                &capsim::report::OutputWriter::new(false),
                &out.path().join("sweep"),
            )
            .expect("writes");
        })
    });
    (seconds, cpu)
}

fn sweep(repeats: usize) {
    let case = Case::new(
        "experiments/validation/mmc-4-0.8.yaml",
        &[
            "horizon=100000s",
            "warmup=500s",
            "replications=2",
            "sweep={grid: {workload.arrivals.per_second: [2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.4]}}",
        ],
    );
    let mut m = Medians::default();
    for _ in 0..repeats {
        let (one, one_cpu) = sweep_run(&case, 1);
        let (two, _) = sweep_run(&case, 2);
        m.add("one", one);
        m.add("one cpu", one_cpu);
        m.add("two", two);
        m.add("speedup", one / two);
    }
    println!("sweep: 8 points of M/M/4 x 2 replications of 100,000 s, whole sim sweep pipeline");
    println!(
        "  1 thread   {:>7.3} s wall ({:.3} CPU s)",
        m.get("one"),
        m.get("one cpu")
    );
    println!("  2 threads  {:>7.3} s wall", m.get("two"));
    println!("  1 / 2      {:>7.2} x", m.get("speedup"));
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn mmc(repeats: usize) {
    let case = Case::new("experiments/validation/mmc-10-0.8.yaml", &[]);
    let mut m = Medians::default();
    let (mut events, mut response) = (0, 0.0);
    for _ in 0..repeats {
        let one = case.run(1);
        let (baseline, wall, cpu) = timed(|| bare_loop::mmc(MMC_CUSTOMERS, 10, 8.0, 1.0, 1));
        assert_eq!(baseline.events, 2 * MMC_CUSTOMERS);
        response = baseline.mean_response;
        let both = case.run(2);
        events = one.events;
        m.add("ratio", one.seconds / wall);
        m.add("ratio cpu", one.cpu / cpu);
        m.add("speedup", one.seconds / both.seconds);
        m.add("capsim", one.seconds);
        m.add("capsim cpu", one.cpu);
        m.add("bare", wall);
        m.add("bare cpu", cpu);
        m.add("two", both.seconds);
    }
    let rate = |n: f64, s: f64| n / s / 1e6;
    let bare_events = 2.0 * MMC_CUSTOMERS as f64;
    println!("mmc-10-0.8: {MMC_CUSTOMERS} customers, capsim {events} events");
    println!("                     wall s   M ev/s     CPU s   M ev/CPU-s");
    for (label, key, n) in [
        ("capsim, 1 thread", "capsim", events as f64),
        ("bare loop", "bare", bare_events),
    ] {
        let (wall, cpu) = (m.get(key), m.get(&format!("{key} cpu")));
        println!(
            "  {label:<17} {wall:>8.3} {:>8.2}  {cpu:>8.3} {:>8.2}",
            rate(n, wall),
            rate(n, cpu)
        );
    }
    println!("  bare mean response {response:>8.3} s (Erlang C: 1.205 s)");
    println!(
        "  capsim / bare      {:>8.2} x wall, {:.2} x CPU",
        m.get("ratio"),
        m.get("ratio cpu")
    );
    println!("  capsim, 2 threads  {:>8.3} s wall", m.get("two"));
    println!("  1 thread / 2 thr.  {:>8.2} x", m.get("speedup"));
}

/// Per-figure samples over the repeats, reported as medians.
#[derive(Default)]
struct Medians(std::collections::BTreeMap<String, Vec<f64>>);

impl Medians {
    fn add(&mut self, key: &str, x: f64) {
        self.0.entry(key.to_string()).or_default().push(x);
    }

    fn get(&self, key: &str) -> f64 {
        median(self.0[key].clone())
    }
}

/// Prints events/s of `case` on 1 thread and of `doubled` (twice the work) on 2.
fn one_and_two(label: &str, case: &Case, doubled: &Case, repeats: usize) {
    let mut m = Medians::default();
    let mut events = 0;
    for _ in 0..repeats {
        let a = case.run(1);
        let b = doubled.run(2);
        events = a.events;
        m.add("scale", b.events_per_second() / a.events_per_second());
        m.add("one", a.events_per_second());
        m.add("one cpu", a.events_per_cpu_second());
        m.add("two", b.events_per_second());
    }
    println!("{label}: {events} events per 1-thread run");
    println!(
        "  1 thread   {:>6.2} M events/s ({:.2} M per CPU-second)",
        m.get("one") / 1e6,
        m.get("one cpu") / 1e6
    );
    println!("  2 threads  {:>6.2} M events/s", m.get("two") / 1e6);
    println!("  2 / 1      {:>6.2} x", m.get("scale"));
}

fn main() {
    let args = Args::parse();
    let wanted = |name: &str| args.only.as_deref().is_none_or(|o| o == name);
    let repeats = args.repeats.max(1);
    if wanted("mmc") {
        mmc(repeats);
    }
    if wanted("app") {
        let sessions = "workload.arrivals.per_day.sessions=1000000";
        one_and_two(
            "app as deployed, 1,000,000 sessions/day, 24 h (1 replication; 2 on 2 threads)",
            &Case::new("experiments/daily-cost.yaml", &[sessions, "replications=1"]),
            &Case::new("experiments/daily-cost.yaml", &[sessions, "replications=2"]),
            repeats,
        );
    }
    if wanted("phase2") {
        let phase2 = Case::new("experiments/phase2.yaml", &[]);
        one_and_two("phase2", &phase2, &phase2, repeats);
    }
    if wanted("sweep") {
        sweep(repeats);
    }
}
