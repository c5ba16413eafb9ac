//! The `sim` binary: parses the command line and reports errors without backtraces.

fn main() {
    if let Err(e) = capsim::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
