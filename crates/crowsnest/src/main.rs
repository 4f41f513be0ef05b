//! The `crowsnest` command: parses what the user typed, validates it into each role's
//! configuration, and runs the role. Only validated configuration goes past this file.

mod cli;
mod duration;
mod hub;
mod sink_args;
mod top;

use anyhow::Context;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        cli::Command::Agent(args) => {
            let config = args.into_config().context("invalid agent configuration")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("crowsnest-http")
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(crowsnest_agent::run(config, shutdown_signal()))?;
            Ok(())
        }
        cli::Command::Hub(args) => {
            let config = args.into_config().context("invalid hub configuration")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("crowsnest-hub")
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(crowsnest_hub::run(config, shutdown_signal()))?;
            Ok(())
        }
        cli::Command::Top(args) => top::run(args),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
