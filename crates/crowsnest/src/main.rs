//! The `crowsnest` command: parses what the user typed (flags, `CROWSNEST_*` variables and the
//! `--config` file), validates it into each role's configuration, and runs the role. Only
//! validated configuration goes past this file.

mod cli;
mod config_file;
mod duration;
mod hub;
mod sink_args;
mod top;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::FromArgMatches;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config_file::{LoadError, Source};

fn main() -> anyhow::Result<()> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let env = config_file::env_vars();
    let resolved = match config_file::resolve(&argv, &env) {
        Ok(r) => r,
        Err(LoadError::Clap(e)) => e.exit(),
        Err(e @ LoadError::Config(_)) => {
            eprintln!("crowsnest: {e}");
            std::process::exit(2);
        }
    };
    let cli = match cli::Cli::from_arg_matches(&resolved.matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let log = Logging::init(&cli.log_level, resolved.sources.get("log_level"));
    for w in &resolved.warnings {
        tracing::warn!("{w}");
    }
    let shutdown_timeout = cli.shutdown_timeout;
    let reload = Reload {
        path: cli.config.clone(),
        role: resolved.role.clone().unwrap_or_default(),
        file: resolved.file,
        log,
    };
    match cli.command {
        cli::Command::Agent(args) => {
            let config = args.into_config().context("invalid agent configuration")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("crowsnest-http")
                .build()
                .context("cannot start the async runtime")?;
            runtime.spawn(reload.on_hangup());
            runtime.block_on(crowsnest_agent::run(
                config,
                shutdown_signal(shutdown_timeout),
            ))?;
            runtime.shutdown_timeout(shutdown_timeout);
            tracing::info!("stopped");
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
            runtime.spawn(reload.on_hangup());
            runtime.block_on(crowsnest_hub::run(
                config,
                shutdown_signal(shutdown_timeout),
            ))?;
            runtime.shutdown_timeout(shutdown_timeout);
            tracing::info!("stopped");
            Ok(())
        }
        cli::Command::Top(args) => top::run(args),
        cli::Command::Config(args) => config_file::run(args, cli.config.as_deref()),
    }
}

/// The log filter and what may change it at run time.
struct Logging {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The level in force, when it came from `--log-level` (file, default or SIGHUP).
    level: String,
    /// Why a new file's `log_level` is not applied (`RUST_LOG`, a flag, a variable).
    fixed_by: Option<String>,
}

impl Logging {
    /// Logs to stderr at `level` unless `RUST_LOG` is set.
    fn init(level: &str, source: Option<&Source>) -> Logging {
        let from_env = EnvFilter::try_from_default_env().ok();
        let fixed_by = match (&from_env, source) {
            (Some(_), _) => Some("RUST_LOG".to_owned()),
            (None, Some(Source::Flag)) => Some("--log-level".to_owned()),
            (None, Some(Source::Env { var })) => Some(var.clone()),
            _ => None,
        };
        let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
        let (filter, handle) = reload::Layer::new(filter);
        tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
        Logging {
            handle,
            level: level.to_owned(),
            fixed_by,
        }
    }

    fn set(&mut self, level: &str) {
        if level == self.level {
            return;
        }
        if let Some(by) = &self.fixed_by {
            tracing::info!(level, set_by = %by, "log_level changed in the configuration file; not applied, {by} sets the level");
            return;
        }
        let filter = match EnvFilter::try_new(level) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(level, error = %e, "log_level in the configuration file is not a filter; keeping the current level");
                return;
            }
        };
        match self.handle.reload(filter) {
            Ok(()) => {
                tracing::info!(from = %self.level, to = level, "log level changed");
                tracing::debug!("debug lines are logged from now on");
                self.level = level.to_owned();
            }
            Err(e) => tracing::error!(error = %e, "cannot change the log level"),
        }
    }
}

/// What SIGHUP re-reads and applies.
struct Reload {
    path: Option<PathBuf>,
    role: String,
    /// The file as last read.
    file: Option<config_file::FileConfig>,
    log: Logging,
}

impl Reload {
    /// Re-reads the configuration file at every SIGHUP: applies the log level, names the
    /// changed keys that take effect at the next start.
    async fn on_hangup(mut self) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot handle SIGHUP; it will not reload the configuration");
                return;
            }
        };
        while hup.recv().await.is_some() {
            self.reload();
        }
    }

    fn reload(&mut self) {
        let Some(path) = self.path.clone() else {
            tracing::info!("SIGHUP: no configuration file (--config) to re-read");
            return;
        };
        let cmd = config_file::command();
        let new = match config_file::read_file(&cmd, &path) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the configuration file is invalid; nothing changed");
                return;
            }
        };
        tracing::info!(file = %path.display(), "SIGHUP: configuration file re-read");
        self.log.set(new.global("log_level").unwrap_or("info"));
        if let Some(old) = &self.file {
            let changed = old.changes(&new, &self.role, &["log_level"]);
            if !changed.is_empty() {
                tracing::warn!(
                    keys = %changed.join(", "),
                    "changed in the configuration file; they take effect at the next start"
                );
            }
        }
        self.file = Some(new);
    }
}

/// Completes on SIGINT or SIGTERM, and from then on gives the shutdown `timeout`: past it
/// the process exits with status 1, naming what had not finished.
async fn shutdown_signal(timeout: Duration) {
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
    tracing::info!(timeout = ?timeout, "shutting down: open requests, then the store and the sinks' queues");
    let watchdog = std::thread::Builder::new()
        .name("shutdown-timeout".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            tracing::error!(
                timeout = ?timeout,
                "shutdown did not finish in time: the step after the last one logged (open \
                 requests, the store's close or a sink's last delivery) was still pending; \
                 queued sink data stays on disk and the store replays its log at the next \
                 start. Exiting with status 1"
            );
            std::process::exit(1);
        });
    if let Err(e) = watchdog {
        tracing::warn!(error = %e, "cannot start the shutdown timer; shutdown is not bounded");
    }
}
