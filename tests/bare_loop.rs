//! The speed benchmark's baseline (benches/bare_loop.rs) simulates the same M/M/10 queue as
//! experiments/validation/mmc-10-0.8.yaml: two events per customer and Erlang C's mean
//! response time, so the ratio it prints compares like with like.

#[path = "../benches/bare_loop.rs"]
mod bare_loop;

#[test]
fn bare_loop_is_the_mmc_queue_of_the_benchmark() {
    let run = bare_loop::mmc(400_000, 10, 8.0, 1.0, 7);
    assert_eq!(run.events, 800_000);
    // Erlang C, c = 10, rho = 0.8: mean response 1 s + 0.2048 s of waiting.
    let theory = 1.0 + 0.2048;
    assert!(
        (run.mean_response - theory).abs() < 0.02,
        "mean response {} vs {theory}",
        run.mean_response
    );
}
