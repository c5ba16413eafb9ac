//! Speed of the whole simulation pipeline on an M/M/c experiment (c = 10, lambda = 8/s,
//! mu = 1/s, 2,000,000 customers): load and compile the experiment file, run the replication,
//! aggregate. Criterion reports time per run and events per second.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn mmc(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/mmc-10-0.8.yaml");
    let experiment = capsim::config::load(&path)
        .expect("validation experiment loads")
        .experiment;
    let events = capsim::runner::run(&experiment, false)
        .expect("runs")
        .summary
        .events;
    let mut group = c.benchmark_group("mmc-10-0.8");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("2M customers, whole pipeline", |b| {
        b.iter(|| {
            let e = capsim::config::load(&path).expect("loads").experiment;
            capsim::runner::run(&e, false).expect("runs")
        })
    });
    group.finish();
}

criterion_group!(benches, mmc);
criterion_main!(benches);
