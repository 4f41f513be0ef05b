//! `crowsnest top`: a terminal view of one agent or hub, like `docker stats`. It reads the
//! HTTP API only (an agent's `/api/v2.1/stats`, a hub's `/metrics`), once a second, on a
//! thread of its own, so the keys answer while a slow agent is asked. With `--once`, or
//! when stdout is not a terminal, it prints one plain table and exits.
//!
//! [`client`] speaks HTTP, [`source`] turns answers into points (with [`rates`]), [`app`]
//! holds the state and the keys, [`format`] writes figures and [`view`] draws.

mod app;
mod client;
mod format;
mod rates;
mod source;
mod view;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{execute, terminal};

use self::app::{Action, App};
use self::client::Endpoint;
use self::source::{Source, Update};
use crate::duration;

/// `crowsnest top` flags.
#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// The agent or hub to watch (`http://host:port`, with its --url-base-prefix if any).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    url: String,
    /// Print one plain table and exit (also what happens when stdout is not a terminal).
    #[arg(long)]
    once: bool,
    /// Time between two refreshes.
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    interval: Duration,
    /// Longest wait for one answer.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    timeout: Duration,
    /// A token file (as the agent's --auth-token-file: one per line) whose first token is sent
    /// as `Authorization: Bearer`, for an agent or hub that asks for one.
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
}

/// Runs `top` until `q`, Ctrl-C or a termination signal.
pub(crate) fn run(args: TopArgs) -> anyhow::Result<()> {
    let mut endpoint = Endpoint::parse(&args.url)?;
    if let Some(path) = &args.token_file {
        let tokens = crowsnest_serve::auth::tokens::TokenSet::load("--token-file", path)?;
        endpoint = endpoint.with_token(tokens.first().to_owned());
    }
    if args.interval.is_zero() {
        anyhow::bail!("--interval must be above 0");
    }
    let source = Source::new(endpoint, args.timeout);
    if args.once || !std::io::stdout().is_terminal() {
        return once(source);
    }
    interactive(source, args.interval)
}

/// One answer as a plain table on stdout.
fn once(mut source: Source) -> anyhow::Result<()> {
    let url = source.endpoint().display();
    let update = source
        .fetch()
        .with_context(|| format!("cannot read {url}"))?;
    let mut app = App::new(url);
    app.apply(update);
    let rows = app.visible();
    let mut out = std::io::stdout().lock();
    out.write_all(format::plain_table(app.kind, &rows).as_bytes())?;
    out.flush()?;
    Ok(())
}

/// What the fetching thread sends.
type Fetched = Result<Update, String>;

fn interactive(source: Source, interval: Duration) -> anyhow::Result<()> {
    let url = source.endpoint().display();
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone());
    let (tx, rx) = mpsc::channel::<Fetched>();
    let fetcher = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("crowsnest-top-fetch".into())
            .spawn(move || fetch_loop(source, interval, &stop, &tx))
            .context("start the fetching thread")?
    };
    let result = {
        let mut term = Screen::enter()?;
        ui_loop(&mut term, App::new(url), &rx, &stop)
    };
    stop.store(true, Ordering::SeqCst);
    drop(rx);
    // Not joined: a fetch in flight may wait for its timeout, and quitting must not. The
    // thread holds nothing that needs closing and ends with the process.
    drop(fetcher);
    result
}

/// Asks every `interval` until `stop` (or the view is gone).
fn fetch_loop(
    mut source: Source,
    interval: Duration,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Fetched>,
) {
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let r = source.fetch().map_err(|e| format!("{e:#}"));
        if tx.send(r).is_err() {
            return;
        }
        // Sleep in small steps so that a quit is not held up by a long interval.
        while started.elapsed() < interval && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(
                interval
                    .saturating_sub(started.elapsed())
                    .min(Duration::from_millis(50)),
            );
        }
    }
}

fn ui_loop(
    term: &mut Screen,
    mut app: App,
    rx: &mpsc::Receiver<Fetched>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut dirty = true;
    while !stop.load(Ordering::SeqCst) {
        loop {
            match rx.try_recv() {
                Ok(Ok(update)) => app.apply(update),
                Ok(Err(e)) => app.error = Some(e),
                Err(_) => break,
            }
            dirty = true;
        }
        if dirty {
            term.terminal.draw(|f| view::draw(f, &app))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                Event::Key(k) => {
                    if app.on_key(k) == Action::Quit {
                        break;
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
    Ok(())
}

/// SIGINT and SIGTERM (from outside: in raw mode Ctrl-C is a key) set `stop`, so the
/// terminal is restored before exiting.
fn watch_signals(stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("crowsnest-top-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            });
            stop.store(true, Ordering::SeqCst);
        });
}

/// The terminal in raw mode on the alternate screen; put back as it was on drop, also when
/// drawing fails or a panic unwinds.
struct Screen {
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
}

impl Screen {
    fn enter() -> anyhow::Result<Screen> {
        terminal::enable_raw_mode().context("put the terminal in raw mode")?;
        let mut out = std::io::stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen) {
            let _ = terminal::disable_raw_mode();
            return Err(e).context("switch to the alternate screen");
        }
        let backend = ratatui::backend::CrosstermBackend::new(out);
        let mut terminal = match ratatui::Terminal::new(backend) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e).context("set up the terminal");
            }
        };
        // A panic prints its message on the restored terminal, not on the alternate screen.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        let _ = terminal.hide_cursor();
        let _ = terminal.clear();
        Ok(Screen { terminal })
    }
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}
