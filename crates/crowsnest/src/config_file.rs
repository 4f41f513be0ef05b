//! The configuration file (`--config FILE`, TOML) and `CROWSNEST_*` environment variables,
//! layered under the command line: flags win over the environment, which wins over the file,
//! which wins over the defaults.
//!
//! Nothing here lists flags: every key of the file and every variable is found in the clap
//! definition of the command ([`Cli::command`]), so a flag added to a role is settable in the
//! file and the environment the day it is added. The file has a table per role (`[agent]`,
//! `[hub]`, `[top]`) with a key per flag (its long name, `-` or `_` alike, or one of its
//! aliases) and the global flags (`log_level`, `shutdown_timeout`) at the top level. The
//! variable of a flag is `CROWSNEST_` and its long name in upper snake case
//! (`CROWSNEST_HOUSEKEEPING_INTERVAL`); repeatable flags take comma-separated values there.
//!
//! The layers become words of a command line: the user's words are parsed once to learn which
//! flags they gave, then the words from the environment and the file for every other flag are
//! appended and the whole is parsed again, so a value from any layer goes through the same
//! parser and the same validation as a flag.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::ValueHint;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Subcommand};
use toml::de::{DeTable, DeValue};

use crate::cli::{Cli, Command};

/// Prefix of every environment variable crowsnest reads.
pub(crate) const ENV_PREFIX: &str = "CROWSNEST_";

/// Subcommands that are not roles (they have no table in the file).
const NOT_ROLES: &[&str] = &["config", "help"];

/// Words in flag names whose values are secrets (masked when printed), unless the flag names
/// a file.
const SECRET_WORDS: &[&str] = &[
    "token", "password", "pw", "secret", "key", "htpasswd", "auth",
];

/// `crowsnest config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate a configuration file (with the CROWSNEST_* environment) and print the resolved
    /// configuration of every role it has a table for, secrets masked.
    Check {
        /// The TOML file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Check this role only (with its defaults and environment when the file has no table
        /// for it).
        #[arg(long, value_name = "agent|hub|top")]
        role: Option<String>,
    },
    /// Validate a command line as `crowsnest ROLE ARGS...` would take it (with the
    /// environment and --config), without running the role, and print the resolved
    /// configuration.
    Args {
        /// agent, hub or top.
        #[arg(value_name = "ROLE")]
        role: String,
        /// The role's flags.
        #[arg(
            value_name = "ARGS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        args: Vec<OsString>,
    },
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// The command line itself (also `--help` and `--version`): clap prints and exits.
    Clap(clap::Error),
    /// The file or the environment, with the file and line or the variable named.
    Config(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Clap(e) => f.write_str(&clap_message(e)),
            LoadError::Config(m) => f.write_str(m),
        }
    }
}

/// Where a flag's final value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Nobody set it.
    Default,
    /// The configuration file, at this line.
    File {
        /// 1-based line of the key.
        line: usize,
    },
    /// This environment variable.
    Env {
        /// The variable.
        var: String,
    },
    /// The command line.
    Flag,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { line } => write!(f, "file, line {line}"),
            Source::Env { var } => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// One key of the file, matched to its flag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The role's table, or `None` at the top level.
    table: Option<String>,
    /// The key as written.
    key: String,
    /// The flag's clap id.
    id: String,
    /// 1-based line of the key.
    line: usize,
    /// The values as the flag would take them.
    values: Vec<String>,
    /// The command-line words that set them.
    words: Vec<String>,
}

/// A configuration file, checked against the command's flags.
#[derive(Debug, Clone)]
pub(crate) struct FileConfig {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    entries: Vec<Entry>,
    /// The role tables it has, in file order.
    tables: Vec<String>,
}

impl FileConfig {
    fn entry(&self, table: Option<&str>, id: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.table.as_deref() == table && e.id == id)
    }

    /// The value of a top-level key (a global flag, by its clap id).
    pub(crate) fn global(&self, id: &str) -> Option<&str> {
        self.entry(None, id)
            .and_then(|e| e.values.first())
            .map(String::as_str)
    }

    /// The keys of the top level and of `[role]` whose values differ between `self` and
    /// `new` (`table.key`), except `skip` (top-level ids applied live).
    pub(crate) fn changes(&self, new: &FileConfig, role: &str, skip: &[&str]) -> Vec<String> {
        let relevant = |e: &&Entry| {
            e.table.as_deref().is_none_or(|t| t == role)
                && !(e.table.is_none() && skip.contains(&e.id.as_str()))
        };
        let name = |e: &Entry| match &e.table {
            Some(t) => format!("{t}.{}", e.key),
            None => e.key.clone(),
        };
        let mut out = BTreeSet::new();
        for e in self.entries.iter().filter(relevant) {
            if new.entry(e.table.as_deref(), &e.id).map(|n| &n.values) != Some(&e.values) {
                out.insert(name(e));
            }
        }
        for n in new.entries.iter().filter(relevant) {
            if self.entry(n.table.as_deref(), &n.id).is_none() {
                out.insert(name(n));
            }
        }
        out.into_iter().collect()
    }
}

/// The command as clap sees it, with global flags propagated and help flags added.
pub(crate) fn command() -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

/// The flags of `cmd` a file or a variable may set: long options that are not help,
/// version or `--config`. For a role, its own flags (the global ones are the top level's).
fn settable(cmd: &clap::Command, top_level: bool) -> Vec<&Arg> {
    cmd.get_arguments()
        .filter(|a| {
            a.get_long().is_some()
                && !a.is_positional()
                && a.get_id() != "config"
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                )
                && (top_level || !a.is_global_set())
        })
        .collect()
}

/// The role subcommands.
fn roles(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !NOT_ROLES.contains(&s.get_name()))
}

fn long(arg: &Arg) -> &str {
    arg.get_long().unwrap_or_default()
}

/// A key as written or a flag name, with `-` and `_` alike.
fn normalize(key: &str) -> String {
    key.replace('-', "_")
}

/// The flag a key names (its long name or an alias).
fn find_arg<'a>(args: &[&'a Arg], key: &str) -> Option<&'a Arg> {
    let key = normalize(key);
    args.iter().copied().find(|a| {
        normalize(long(a)) == key
            || a.get_all_aliases()
                .unwrap_or_default()
                .iter()
                .any(|al| normalize(al) == key)
    })
}

/// The environment variable of a flag: the one clap knows it by (`CROWSNEST_LOG`), else
/// `CROWSNEST_` and its long name in upper snake case.
pub(crate) fn env_name(arg: &Arg) -> String {
    if let Some(var) = arg.get_env() {
        return var.to_string_lossy().into_owned();
    }
    format!(
        "{ENV_PREFIX}{}",
        long(arg).to_ascii_uppercase().replace('-', "_")
    )
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
}

/// Whether a flag switches something on or off without a value (`--no-inotify`).
fn switch(arg: &Arg) -> bool {
    !arg.get_action().takes_values()
}

/// The words that set `arg` to `values` on a command line.
fn words_of(arg: &Arg, values: &[String]) -> Vec<String> {
    let name = long(arg);
    match arg.get_action() {
        ArgAction::SetTrue => match values.first().map(String::as_str) {
            Some("true") => vec![format!("--{name}")],
            _ => Vec::new(),
        },
        ArgAction::SetFalse => match values.first().map(String::as_str) {
            Some("false") => vec![format!("--{name}")],
            _ => Vec::new(),
        },
        ArgAction::Count => {
            let n: usize = values.first().and_then(|v| v.parse().ok()).unwrap_or(0);
            vec![format!("--{name}"); n]
        }
        _ => values.iter().map(|v| format!("--{name}={v}")).collect(),
    }
}

/// A TOML scalar as a flag's value.
fn scalar(v: &DeValue<'_>) -> Result<String, String> {
    match v {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            if i.radix() == 10 {
                Ok(digits)
            } else {
                let d = digits
                    .trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b");
                i64::from_str_radix(d, i.radix())
                    .map(|n| n.to_string())
                    .map_err(|e| format!("bad integer {}: {e}", i.as_str()))
            }
        }
        DeValue::Float(f) => Ok(f.as_str().replace('_', "")),
        DeValue::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, a number or a boolean, found {}",
            other.type_str()
        )),
    }
}

/// The values a file's value gives `arg`, or what is wrong with its type.
fn file_values(arg: &Arg, v: &DeValue<'_>) -> Result<Vec<String>, String> {
    if switch(arg) && !matches!(arg.get_action(), ArgAction::Count) {
        return match v {
            DeValue::Boolean(b) => Ok(vec![b.to_string()]),
            other => Err(format!(
                "expected true or false, found {}",
                other.type_str()
            )),
        };
    }
    match v {
        DeValue::Array(items) if repeatable(arg) => {
            items.iter().map(|i| scalar(i.get_ref())).collect()
        }
        DeValue::Array(_) => {
            Err("expected one value, found an array (only repeatable flags take arrays)".to_owned())
        }
        other => scalar(other).map(|s| vec![s]),
    }
}

/// The values an environment variable gives `arg`, or what is wrong with it.
fn env_values(arg: &Arg, text: &str) -> Result<Vec<String>, String> {
    if switch(arg) && !matches!(arg.get_action(), ArgAction::Count) {
        return match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(vec!["true".to_owned()]),
            "false" | "0" | "no" | "" => Ok(vec!["false".to_owned()]),
            _ => Err(format!("{text:?} is not a boolean (true or false)")),
        };
    }
    if repeatable(arg) {
        return Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect());
    }
    Ok(vec![text.to_owned()])
}

/// The first line of clap's message, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// Checks `words` with clap alone: for a role's flags, `crowsnest ROLE WORDS`; for the top
/// level, `crowsnest WORDS ROLE`.
fn check_words(cmd: &clap::Command, role: Option<&str>, words: &[String]) -> Result<(), String> {
    let any_role = roles(cmd).next().map_or("agent", |r| r.get_name());
    let mut argv = vec!["crowsnest".to_owned()];
    match role {
        Some(r) => {
            argv.push(r.to_owned());
            argv.extend_from_slice(words);
        }
        None => {
            argv.extend_from_slice(words);
            argv.push(any_role.to_owned());
        }
    }
    cmd.clone()
        .try_get_matches_from(argv)
        .map(drop)
        .map_err(|e| clap_message(&e))
}

/// A table's entries in file order (the parsed table is sorted by key).
fn in_order<'t, 'i>(
    t: &'t DeTable<'i>,
) -> Vec<(
    &'t toml::Spanned<toml::de::DeString<'i>>,
    &'t toml::Spanned<DeValue<'i>>,
)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// Reads and checks a configuration file: every key a flag, every value of the flag's type
/// and accepted by its parser. Errors name the file, the line and the key.
pub(crate) fn read_file(cmd: &clap::Command, path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: cannot read the configuration file: {e}",
            path.display()
        )
    })?;
    parse_file(cmd, path, &text)
}

/// Checks `text`, the contents of the file at `path`.
pub(crate) fn parse_file(
    cmd: &clap::Command,
    path: &Path,
    text: &str,
) -> Result<FileConfig, String> {
    let shown = path.display();
    let doc = DeTable::parse(text).map_err(|e| format!("{shown}: {e}"))?;
    let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let role_names: Vec<&str> = roles(cmd).map(clap::Command::get_name).collect();
    let globals = settable(cmd, true);
    let mut entries: Vec<Entry> = Vec::new();
    let mut tables = Vec::new();
    let mut add = |table: Option<&str>,
                   args: &[&Arg],
                   key: &str,
                   line: usize,
                   value: &DeValue<'_>|
     -> Result<(), String> {
        let place = match table {
            Some(t) => format!("`{key}` in [{t}]"),
            None => format!("`{key}`"),
        };
        let Some(arg) = find_arg(args, key) else {
            let known = match table {
                Some(t) => format!("keys of [{t}] are the long names of `crowsnest {t}` flags"),
                None => format!(
                    "top-level keys are {} and the tables {}",
                    globals
                        .iter()
                        .map(|a| normalize(long(a)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    role_names
                        .iter()
                        .map(|r| format!("[{r}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(format!("{shown}:{line}: unknown key {place} ({known})"));
        };
        let id = arg.get_id().as_str().to_owned();
        if let Some(other) = entries
            .iter()
            .find(|e| e.table.as_deref() == table && e.id == id)
        {
            return Err(format!(
                "{shown}:{line}: {place} sets the same flag as `{}` at line {}",
                other.key, other.line
            ));
        }
        let values =
            file_values(arg, value).map_err(|m| format!("{shown}:{line}: {place}: {m}"))?;
        let words = words_of(arg, &values);
        check_words(cmd, table, &words).map_err(|m| format!("{shown}:{line}: {place}: {m}"))?;
        entries.push(Entry {
            table: table.map(str::to_owned),
            key: key.to_owned(),
            id,
            line,
            values,
            words,
        });
        Ok(())
    };
    for (k, v) in in_order(doc.get_ref()) {
        let key: &str = k.get_ref();
        let line = line_of(k.span().start);
        match v.get_ref() {
            DeValue::Table(t) => {
                let Some(role) = roles(cmd).find(|r| r.get_name() == key) else {
                    return Err(format!(
                        "{shown}:{line}: unknown table [{key}] (the tables are {})",
                        role_names
                            .iter()
                            .map(|r| format!("[{r}]"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                tables.push(key.to_owned());
                let args = settable(role, false);
                for (k2, v2) in in_order(t) {
                    add(
                        Some(key),
                        &args,
                        k2.get_ref(),
                        line_of(k2.span().start),
                        v2.get_ref(),
                    )?;
                }
            }
            value => add(None, &globals, key, line, value)?,
        }
    }
    Ok(FileConfig {
        path: path.to_owned(),
        entries,
        tables,
    })
}

/// The command line, the environment and the file, resolved.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The final parse.
    pub(crate) matches: ArgMatches,
    /// The role run, if any.
    pub(crate) role: Option<String>,
    /// Where every settable flag of the role (and the top level) got its value, by clap id.
    pub(crate) sources: BTreeMap<String, Source>,
    /// Problems that do not stop the program (unknown `CROWSNEST_*` variables).
    pub(crate) warnings: Vec<String>,
    /// The file read, if any.
    pub(crate) file: Option<FileConfig>,
}

/// The `CROWSNEST_*` variables of the process (those that are valid UTF-8).
pub(crate) fn env_vars() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect()
}

/// Every variable name crowsnest knows, over all roles.
fn known_vars(cmd: &clap::Command) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    let mut add = |args: Vec<&Arg>| {
        for a in args {
            known.insert(env_name(a));
        }
    };
    add(settable(cmd, true));
    for r in roles(cmd) {
        add(settable(r, false));
    }
    for a in cmd.get_arguments() {
        if let Some(e) = a.get_env() {
            known.insert(e.to_string_lossy().into_owned());
        }
    }
    known
}

/// Parses `argv` (the program's name first) with the variables `env` and the file named by
/// `--config` (or `CROWSNEST_CONFIG`): flags > env > file > defaults.
pub(crate) fn resolve(
    argv: &[OsString],
    env: &BTreeMap<String, String>,
) -> Result<Resolved, LoadError> {
    let cmd = command();
    let first = cmd
        .clone()
        .try_get_matches_from(argv)
        .map_err(LoadError::Clap)?;
    let Some((role, sub)) = first.subcommand() else {
        return Ok(Resolved {
            matches: first.clone(),
            role: None,
            sources: BTreeMap::new(),
            warnings: Vec::new(),
            file: None,
        });
    };
    if NOT_ROLES.contains(&role) {
        return Ok(Resolved {
            role: Some(role.to_owned()),
            matches: first.clone(),
            sources: BTreeMap::new(),
            warnings: Vec::new(),
            file: None,
        });
    }
    let known = known_vars(&cmd);
    let warnings = env
        .keys()
        .filter(|k| k.starts_with(ENV_PREFIX) && !known.contains(*k))
        .map(|k| format!("environment variable {k} matches no flag of crowsnest; ignored"))
        .collect();
    let file = match sub.get_one::<PathBuf>("config") {
        Some(path) => Some(read_file(&cmd, path).map_err(LoadError::Config)?),
        None => None,
    };
    let role_cmd = cmd
        .find_subcommand(role)
        .ok_or_else(|| LoadError::Config(format!("no role {role}")))?;
    let layers = settable(&cmd, true).into_iter().map(|a| (a, None)).chain(
        settable(role_cmd, false)
            .into_iter()
            .map(|a| (a, Some(role))),
    );
    let mut extra: Vec<String> = Vec::new();
    let mut sources = BTreeMap::new();
    for (arg, table) in layers {
        let id = arg.get_id().as_str();
        let source = match sub.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => Source::Env { var: env_name(arg) },
            _ => {
                let var = env_name(arg);
                if let Some(text) = env.get(&var) {
                    let values = env_values(arg, text)
                        .map_err(|m| LoadError::Config(format!("{var}: {m}")))?;
                    let words = words_of(arg, &values);
                    check_words(&cmd, table, &words)
                        .map_err(|m| LoadError::Config(format!("{var}: {m}")))?;
                    extra.extend(words);
                    Source::Env { var }
                } else if let Some(e) = file.as_ref().and_then(|f| f.entry(table, id)) {
                    extra.extend(e.words.iter().cloned());
                    Source::File { line: e.line }
                } else {
                    Source::Default
                }
            }
        };
        sources.insert(id.to_owned(), source);
    }
    let mut full = argv.to_vec();
    full.extend(extra.into_iter().map(OsString::from));
    let matches = cmd.clone().try_get_matches_from(&full).map_err(|e| {
        let from = file
            .as_ref()
            .map(|f| format!(" (with {} and the environment)", f.path.display()))
            .unwrap_or_else(|| " (with the environment)".to_owned());
        LoadError::Config(format!("{}{from}", clap_message(&e)))
    })?;
    Ok(Resolved {
        matches,
        role: Some(role.to_owned()),
        sources,
        warnings,
        file,
    })
}

/// Whether `arg`'s value is a secret: its name says so and it does not name a file.
fn secret(arg: &Arg) -> bool {
    let name = long(arg).to_ascii_lowercase();
    if !SECRET_WORDS.iter().any(|w| name.contains(w)) {
        return false;
    }
    let path_like = ["file", "dir", "path"].iter().any(|s| name.ends_with(s))
        || matches!(
            arg.get_value_hint(),
            ValueHint::FilePath | ValueHint::DirPath | ValueHint::AnyPath
        )
        || arg.get_value_parser().type_id() == clap::builder::ValueParser::path_buf().type_id()
        || arg
            .get_value_names()
            .unwrap_or_default()
            .iter()
            .any(|n| ["FILE", "PATH", "DIR"].contains(&n.as_str()));
    !path_like
}

/// `value` with the password of a URI's user and secret query options masked.
fn mask_uri(value: &str) -> String {
    if value.contains("://") || value.contains('?') {
        crowsnest_sinks::uri::redact(value)
    } else {
        value.to_owned()
    }
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The resolved configuration of `resolved.role` as TOML, every flag with its value and
/// where it came from, secrets masked.
pub(crate) fn render(resolved: &Resolved) -> String {
    let cmd = command();
    let Some(role) = resolved.role.as_deref() else {
        return String::new();
    };
    let Some(sub) = resolved.matches.subcommand_matches(role) else {
        return String::new();
    };
    let mut out = String::new();
    let section = |args: Vec<&Arg>, out: &mut String| {
        for arg in args {
            let id = arg.get_id().as_str();
            let key = normalize(long(arg));
            let source = resolved.sources.get(id).cloned().unwrap_or(Source::Default);
            let raw: Vec<String> = match sub.try_get_raw(id) {
                Ok(Some(vals)) => vals.map(|v| v.to_string_lossy().into_owned()).collect(),
                _ => Vec::new(),
            };
            let hide = secret(arg);
            let show = |v: &String| {
                if hide {
                    quoted("***")
                } else {
                    quoted(&mask_uri(v))
                }
            };
            let value = if raw.is_empty() {
                let _ = writeln!(out, "# {key} (not set)");
                continue;
            } else if switch(arg) && !matches!(arg.get_action(), ArgAction::Count) {
                raw[0].clone()
            } else if repeatable(arg) {
                format!("[{}]", raw.iter().map(show).collect::<Vec<_>>().join(", "))
            } else {
                show(&raw[0])
            };
            let _ = writeln!(out, "{:<40} # {source}", format!("{key} = {value}"));
        }
    };
    section(settable(&cmd, true), &mut out);
    if let Some(r) = cmd.find_subcommand(role) {
        let _ = writeln!(out, "\n[{role}]");
        section(settable(r, false), &mut out);
    }
    out
}

/// Runs the role's own validation (`into_config`) without running it.
fn validate(matches: &ArgMatches) -> anyhow::Result<()> {
    let cli = Cli::from_arg_matches(matches)?;
    tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {:?}: {e}", cli.log_level))?;
    match cli.command {
        Command::Agent(a) => a.into_config().map(drop),
        Command::Hub(h) => h.into_config().map(drop),
        Command::Top(_) | Command::Config(_) => Ok(()),
    }
}

/// Resolves, validates and prints one role; `false` (with the problem on stderr) when it is
/// invalid.
fn check_one(argv: Vec<OsString>, env: &BTreeMap<String, String>, what: &str) -> bool {
    let resolved = match resolve(&argv, env) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crowsnest: {what}: {e}");
            return false;
        }
    };
    for w in &resolved.warnings {
        eprintln!("crowsnest: warning: {w}");
    }
    if let Err(e) = validate(&resolved.matches) {
        eprintln!("crowsnest: {what} is invalid: {e:#}");
        return false;
    }
    // A closed pipe (`| head`) is not an error of the configuration.
    let _ = writeln!(
        std::io::stdout().lock(),
        "# {what}: valid. Each value's source: flag > env > file > default.\n{}",
        render(&resolved)
    );
    true
}

/// `crowsnest config ...`: exits 0 when what it checks is valid, 2 otherwise.
pub(crate) fn run(args: ConfigArgs, config: Option<&Path>) -> ! {
    let env = env_vars();
    let ok = match args.action {
        ConfigAction::Check { file, role } => {
            let cmd = command();
            match read_file(&cmd, &file) {
                Err(e) => {
                    eprintln!("crowsnest: {e}");
                    false
                }
                Ok(parsed) => {
                    let roles: Vec<String> = match role {
                        Some(r) => vec![r],
                        None => parsed.tables.clone(),
                    };
                    if roles.is_empty() {
                        let _ = writeln!(
                            std::io::stdout().lock(),
                            "# {}: valid (no [agent], [hub] or [top] table)",
                            file.display()
                        );
                    }
                    let mut ok = true;
                    for r in roles {
                        let argv = vec![
                            OsString::from("crowsnest"),
                            OsString::from("--config"),
                            file.clone().into_os_string(),
                            OsString::from(&r),
                        ];
                        ok &= check_one(argv, &env, &format!("{} [{r}]", file.display()));
                    }
                    ok
                }
            }
        }
        ConfigAction::Args { role, args } => {
            let mut argv = vec![OsString::from("crowsnest")];
            if let Some(c) = config {
                argv.push("--config".into());
                argv.push(c.as_os_str().to_owned());
            }
            argv.push(OsString::from(&role));
            argv.extend(args);
            check_one(argv, &env, &format!("crowsnest {role}"))
        }
    };
    std::process::exit(if ok { 0 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration parser lives in the binary crate, which a cargo-fuzz target cannot
    /// link; this is its bounded fuzz run instead: 8,000 mutations (bits flipped, bytes
    /// deleted, lines duplicated, the file cut short, TOML punctuation and multi-byte
    /// characters spliced in) of the documented example file, each parsed as `--config` would
    /// be. Any answer is fine; a panic is the failure.
    #[test]
    fn mutated_files_are_refused_or_accepted_never_a_panic() {
        let cmd = command();
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/crowsnest.example.toml"),
        )
        .unwrap();
        let splices: [&str; 12] = [
            "=",
            "[",
            "]",
            "\"",
            "'''",
            "\n",
            "{",
            ",",
            "\\u00e9",
            "\u{e9}",
            "\u{1f426}",
            "[[agent]]\n",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..8_000 {
            let mut bytes = example.clone().into_bytes();
            for _ in 0..1 + next(4) {
                let at = next(bytes.len() + 1);
                match next(5) {
                    0 if at < bytes.len() => bytes[at] ^= 1 << next(8),
                    1 => {
                        let s = splices[next(splices.len())];
                        bytes.splice(at..at, s.bytes());
                    }
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    3 => {
                        let line: Vec<u8> = bytes[at..]
                            .split(|&b| b == b'\n')
                            .next()
                            .unwrap_or_default()
                            .to_vec();
                        bytes.splice(at..at, line);
                    }
                    _ => bytes.truncate(at),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            match parse_file(&cmd, Path::new("fuzz.toml"), &text) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    assert!(e.starts_with("fuzz.toml"), "the file is named: {e}");
                    refused += 1;
                }
            }
        }
        assert!(
            accepted > 100 && refused > 1000,
            "{accepted} accepted, {refused} refused"
        );
    }

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("crowsnest")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crowsnest.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn raw(r: &Resolved, id: &str) -> Vec<String> {
        let sub = r
            .matches
            .subcommand_matches(r.role.as_deref().unwrap())
            .unwrap();
        sub.get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    const FILE: &str = r#"log_level = "debug"

[agent]
listen = "127.0.0.1:9000"
housekeeping-interval = "2s"
sink = ["stdout:", "influxdb:http://u:secret@127.0.0.1:8086?db=k8s"]
no_inotify = true
store_dir = ""
disk_usage_rate = 500
storage_driver_password = "hunter2"

[hub]
node = ["a=127.0.0.1:8080"]
metric_resolution = "5s"
"#;

    #[test]
    fn flags_win_over_env_which_wins_over_the_file() {
        let (_d, path) = file(FILE);
        let p = path.to_str().unwrap();
        let r = resolve(&argv(&["--config", p, "agent"]), &env(&[])).unwrap();
        assert_eq!(raw(&r, "listen"), ["127.0.0.1:9000"]);
        assert_eq!(raw(&r, "housekeeping_interval"), ["2s"]);
        assert_eq!(
            raw(&r, "sink"),
            ["stdout:", "influxdb:http://u:secret@127.0.0.1:8086?db=k8s"]
        );
        assert_eq!(raw(&r, "no_inotify"), ["true"]);
        assert_eq!(raw(&r, "disk_usage_rate"), ["500"]);
        assert_eq!(raw(&r, "log_level"), ["debug"]);
        assert_eq!(r.sources["listen"], Source::File { line: 4 });
        assert_eq!(r.sources["retention"], Source::Default);
        validate(&r.matches).unwrap();

        let e = env(&[
            ("CROWSNEST_LISTEN", "127.0.0.1:9001"),
            ("CROWSNEST_SINK", "stdout:, stdout:?name=two"),
        ]);
        let r = resolve(&argv(&["--config", p, "agent"]), &e).unwrap();
        assert_eq!(raw(&r, "listen"), ["127.0.0.1:9001"]);
        assert_eq!(raw(&r, "sink"), ["stdout:", "stdout:?name=two"]);
        assert_eq!(
            r.sources["listen"],
            Source::Env {
                var: "CROWSNEST_LISTEN".into()
            }
        );
        assert_eq!(
            raw(&r, "housekeeping_interval"),
            ["2s"],
            "the file still counts"
        );

        let r = resolve(
            &argv(&[
                "--config",
                p,
                "agent",
                "--listen=127.0.0.1:9002",
                "--sink=stdout:",
            ]),
            &e,
        )
        .unwrap();
        assert_eq!(raw(&r, "listen"), ["127.0.0.1:9002"]);
        assert_eq!(raw(&r, "sink"), ["stdout:"], "a flag replaces the list");
        assert_eq!(r.sources["listen"], Source::Flag);

        // A flag's default does not count as given: the file's value wins over it.
        let r = resolve(&argv(&["agent", "--config", p]), &env(&[])).unwrap();
        assert_eq!(raw(&r, "listen"), ["127.0.0.1:9000"]);

        // The hub's table, its alias spelling, and the role's own validation.
        let r = resolve(&argv(&["--config", p, "hub"]), &env(&[])).unwrap();
        assert_eq!(raw(&r, "resolution"), ["5s"]);
        validate(&r.matches).unwrap();
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_line() {
        let cmd = command();
        let p = Path::new("c.toml");
        let e = parse_file(
            &cmd,
            p,
            "[agent]\nlisten = \"1.2.3.4:5\"\nlisten_port = 1\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("c.toml:3: unknown key `listen_port` in [agent]"),
            "{e}"
        );
        let e = parse_file(&cmd, p, "\n\n[agnet]\nlisten = 1\n").unwrap_err();
        assert!(e.starts_with("c.toml:3: unknown table [agnet]"), "{e}");
        let e = parse_file(&cmd, p, "loglevel = \"x\"\n").unwrap_err();
        assert!(e.contains("c.toml:1: unknown key `loglevel`"), "{e}");
        let e = parse_file(&cmd, p, "[agent]\n\nno_inotify = \"yes\"\n").unwrap_err();
        assert!(
            e.contains("c.toml:3: `no_inotify` in [agent]: expected true or false, found string"),
            "{e}"
        );
        let e = parse_file(&cmd, p, "[agent]\nlisten = [\"a\", \"b\"]\n").unwrap_err();
        assert!(
            e.contains("c.toml:2: `listen` in [agent]: expected one value"),
            "{e}"
        );
        let e = parse_file(&cmd, p, "[agent]\nhousekeeping_interval = \"5\"\n").unwrap_err();
        assert!(
            e.contains("c.toml:2: `housekeeping_interval` in [agent]: invalid value '5'"),
            "{e}"
        );
        let e = parse_file(&cmd, p, "[agent]\nlisten_ip = \"a\"\nlisten-ip = \"b\"\n").unwrap_err();
        assert!(e.contains("c.toml:3:") && e.contains("same flag"), "{e}");
        let e = parse_file(&cmd, p, "[agent]\nlisten = \n").unwrap_err();
        assert!(
            e.contains("line 2"),
            "a TOML syntax error names its line: {e}"
        );
        // Numbers, booleans and cAdvisor's spellings.
        let f = parse_file(
            &cmd,
            p,
            "shutdown_timeout = \"3s\"\n[agent]\nquery_max_points = 1_000\nstore_container_labels = false\nstorage_duration = \"1m\"\n",
        )
        .unwrap();
        assert_eq!(f.global("shutdown_timeout"), Some("3s"));
        assert_eq!(
            f.entry(Some("agent"), "query_max_points").unwrap().words,
            ["--query-max-points=1000"]
        );
        assert_eq!(
            f.entry(Some("agent"), "store_container_labels")
                .unwrap()
                .words,
            ["--store_container_labels=false"]
        );
    }

    #[test]
    fn env_errors_name_the_variable_and_unknown_ones_warn() {
        let e = env(&[("CROWSNEST_HOUSEKEEPING_INTERVAL", "soon")]);
        let err = resolve(&argv(&["agent"]), &e).unwrap_err().to_string();
        assert!(
            err.starts_with("CROWSNEST_HOUSEKEEPING_INTERVAL: invalid value 'soon'"),
            "{err}"
        );
        let e = env(&[
            ("CROWSNEST_LISTENN", "x"),
            ("CROWSNEST_RESOLUTION", "5s"),
            ("CROWSNEST_NO_INOTIFY", "1"),
        ]);
        let r = resolve(&argv(&["agent"]), &e).unwrap();
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("CROWSNEST_LISTENN"));
        assert_eq!(raw(&r, "no_inotify"), ["true"]);
        // CROWSNEST_LOG keeps its name and beats the file; CROWSNEST_LOG_LEVEL is not a name.
        let (_d, path) = file(FILE);
        let e = env(&[("CROWSNEST_LOG", "warn"), ("CROWSNEST_LOG_LEVEL", "trace")]);
        let r = resolve(&argv(&["--config", path.to_str().unwrap(), "agent"]), &e).unwrap();
        assert_eq!(raw(&r, "log_level"), ["warn"]);
        assert_eq!(
            r.sources["log_level"],
            Source::Env {
                var: "CROWSNEST_LOG".into()
            }
        );
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("CROWSNEST_LOG_LEVEL"));
    }

    #[test]
    fn secrets_are_masked_and_sources_shown() {
        let (_d, path) = file(FILE);
        let r = resolve(
            &argv(&["--config", path.to_str().unwrap(), "agent", "--port=9100"]),
            &env(&[("CROWSNEST_RETENTION", "2d")]),
        )
        .unwrap();
        let out = render(&r);
        assert!(out.contains("storage_driver_password = \"***\""), "{out}");
        assert!(!out.contains("hunter2") && !out.contains("secret"), "{out}");
        assert!(out.contains("http://u:***@127.0.0.1:8086"), "{out}");
        assert!(out.contains("# file, line 4"), "{out}");
        assert!(out.contains("# env CROWSNEST_RETENTION"), "{out}");
        assert!(out.contains("port = \"9100\""), "{out}");
        assert!(out.contains("# flag"), "{out}");
        assert!(out.contains("log_level = \"debug\""), "{out}");
        assert!(out.contains("no_inotify = true"), "{out}");
        // The rendering is itself a valid file for the role.
        let body: String = out.lines().map(|l| format!("{l}\n")).collect();
        let cmd = command();
        let f = parse_file(
            &cmd,
            Path::new("out.toml"),
            &body.replace("\"***\"", "\"x\""),
        );
        assert!(f.is_ok(), "{f:?}\n{body}");
    }

    #[test]
    fn changes_between_two_readings() {
        let cmd = command();
        let p = Path::new("c.toml");
        let a = parse_file(
            &cmd,
            p,
            "log_level = \"info\"\n[agent]\nlisten = \"1.2.3.4:5\"\n[hub]\nretention = \"1h\"\n",
        )
        .unwrap();
        let b = parse_file(
            &cmd,
            p,
            "log_level = \"debug\"\n[agent]\nlisten = \"1.2.3.4:6\"\nno_inotify = true\n",
        )
        .unwrap();
        assert_eq!(
            a.changes(&b, "agent", &["log_level"]),
            ["agent.listen", "agent.no_inotify"]
        );
        assert_eq!(a.changes(&b, "hub", &["log_level"]), ["hub.retention"]);
        assert!(a.changes(&a, "agent", &[]).is_empty());
    }
}
