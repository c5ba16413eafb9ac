//! `orchestrator`: `serve` runs the service on loopback, `token USER` prints a bearer token,
//! `load` drives a running service with closed-loop virtual users and writes Locust's CSV files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orchestrator::auth::TokenSigner;
use orchestrator::config::Config;
use orchestrator::load::LoadOptions;

#[derive(Parser)]
#[command(
    name = "orchestrator",
    version,
    about = "The improv app's turn pipeline as a real service, and a load driver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on 127.0.0.1.
    Serve {
        /// Port (overrides the file's server.port; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// Configuration file (YAML); every field has a default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Database file (overrides store.path).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Trace file, OTLP/JSON lines (overrides trace.path).
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Print a bearer token for USER, signed with the configured secret.
    Token {
        /// The user id.
        user: String,
        /// Configuration file whose auth.secret signs the token.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Drive a running service (loopback only) with closed-loop virtual users, like Locust.
    Load {
        /// What to run.
        #[command(flatten)]
        options: LoadOptions,
        /// The service's configuration file, whose auth.secret signs the users' tokens.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            port,
            config,
            db,
            trace,
        } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(port) = port {
                config.server.port = port;
            }
            if let Some(db) = db {
                config.store.path = db;
            }
            if trace.is_some() {
                config.trace.path = trace;
            }
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if config.server.worker_threads > 0 {
                runtime.worker_threads(config.server.worker_threads);
            }
            runtime.enable_all().build()?.block_on(async {
                let listener = orchestrator::service::bind(&config).await?;
                println!(
                    "orchestrator listening on http://{}",
                    listener.local_addr()?
                );
                orchestrator::service::serve(config, listener).await
            })
        }
        Command::Token { user, config } => {
            let config = load_config(config.as_ref())?;
            println!("{}", TokenSigner::new(&config.auth.secret).sign(&user)?);
            Ok(())
        }
        Command::Load {
            mut options,
            config,
        } => {
            options.secret = load_config(config.as_ref())?.auth.secret;
            let report =
                tokio::runtime::Runtime::new()?.block_on(orchestrator::load::run(options))?;
            print!("{}", report.stats.stats_csv());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orchestrator: {error:#}");
            ExitCode::FAILURE
        }
    }
}
