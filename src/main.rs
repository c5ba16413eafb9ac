//! The `sim` binary: the command line's exit code is the process's.

fn main() -> std::process::ExitCode {
    capsim::cli::main()
}
