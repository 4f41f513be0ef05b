//! `top`'s state: every container with its recent points, the sort order, the filter, the
//! selection and the open detail, and what each key does to them. No I/O and no drawing.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::rates::Point;
use super::source::{Info, Kind, Summary, Update};

/// Points kept per container (two minutes at one a second).
pub(crate) const HISTORY: usize = 120;

/// What the rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    Cpu,
    Memory,
    Name,
    Net,
    Io,
    Pids,
}

impl SortKey {
    pub(crate) fn label(self) -> &'static str {
        match self {
            SortKey::Cpu => "CPU",
            SortKey::Memory => "memory",
            SortKey::Name => "name",
            SortKey::Net => "network",
            SortKey::Io => "I/O",
            SortKey::Pids => "pids",
        }
    }

    fn from_char(c: char) -> Option<SortKey> {
        Some(match c {
            'c' => SortKey::Cpu,
            'm' => SortKey::Memory,
            'n' => SortKey::Name,
            'x' => SortKey::Net,
            'i' => SortKey::Io,
            'p' => SortKey::Pids,
            _ => return None,
        })
    }

    /// The value sorted on (`None` sorts last either way).
    fn value(self, p: Option<&Point>) -> Option<f64> {
        let p = p?;
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        match self {
            SortKey::Cpu => p.cpu,
            SortKey::Memory => p.memory.map(|v| v as f64),
            SortKey::Net => sum(p.rx, p.tx),
            SortKey::Io => sum(p.read, p.write),
            SortKey::Pids => p.pids.map(|v| v as f64),
            SortKey::Name => None,
        }
    }
}

/// One container and its recent points, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    pub(crate) info: Info,
    pub(crate) history: VecDeque<Point>,
}

impl Row {
    /// The newest point.
    pub(crate) fn latest(&self) -> Option<&Point> {
        self.history.back()
    }
}

/// What the event loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Continue,
    Quit,
}

/// Everything `top` shows.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// The agent's or hub's URL.
    pub(crate) url: String,
    pub(crate) kind: Option<Kind>,
    pub(crate) summary: Summary,
    pub(crate) rows: BTreeMap<String, Row>,
    pub(crate) sort: SortKey,
    pub(crate) descending: bool,
    pub(crate) filter: String,
    /// Whether keys go to the filter.
    pub(crate) editing: bool,
    /// The selected container's key.
    pub(crate) selected: Option<String>,
    /// The container whose detail is open.
    pub(crate) detail: Option<String>,
    /// The last failure to read the agent or hub (cleared by the next success).
    pub(crate) error: Option<String>,
    /// The newest point's time, milliseconds since the epoch.
    pub(crate) updated_ms: Option<i64>,
}

impl App {
    pub(crate) fn new(url: String) -> App {
        App {
            url,
            kind: None,
            summary: Summary::default(),
            rows: BTreeMap::new(),
            sort: SortKey::Cpu,
            descending: true,
            filter: String::new(),
            editing: false,
            selected: None,
            detail: None,
            error: None,
            updated_ms: None,
        }
    }

    /// Takes in an update: new points appended, containers no longer listed dropped.
    pub(crate) fn apply(&mut self, update: Update) {
        self.kind = Some(update.kind);
        self.summary = update.summary;
        self.error = None;
        let mut rows = BTreeMap::new();
        for c in update.containers {
            let mut row = self.rows.remove(&c.info.key).unwrap_or_default();
            for p in c.points {
                self.updated_ms = Some(self.updated_ms.map_or(p.at_ms, |t| t.max(p.at_ms)));
                row.history.push_back(p);
            }
            while row.history.len() > HISTORY {
                row.history.pop_front();
            }
            row.info = c.info;
            rows.insert(row.info.key.clone(), row);
        }
        if let Some(t) = self.summary.total.map(|p| p.at_ms) {
            self.updated_ms = Some(self.updated_ms.map_or(t, |u| u.max(t)));
        }
        self.rows = rows;
        if self
            .detail
            .as_ref()
            .is_some_and(|k| !self.rows.contains_key(k))
        {
            self.detail = None;
        }
    }

    /// Whether `row` passes the filter (a case-insensitive part of its name, cgroup, node or
    /// image).
    fn matches(&self, row: &Row) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let f = self.filter.to_lowercase();
        let i = &row.info;
        [
            Some(&i.name),
            i.cgroup.as_ref(),
            i.node.as_ref(),
            i.image.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|s| s.to_lowercase().contains(&f))
    }

    /// The rows shown, filtered and sorted.
    pub(crate) fn visible(&self) -> Vec<&Row> {
        let mut v: Vec<&Row> = self.rows.values().filter(|r| self.matches(r)).collect();
        let by_name = |a: &Row, b: &Row| {
            a.info
                .name
                .cmp(&b.info.name)
                .then(a.info.key.cmp(&b.info.key))
        };
        v.sort_by(|a, b| {
            if self.sort == SortKey::Name {
                let o = by_name(a, b);
                return if self.descending { o.reverse() } else { o };
            }
            let (x, y) = (self.sort.value(a.latest()), self.sort.value(b.latest()));
            let o = match (x, y) {
                (Some(x), Some(y)) => {
                    let o = x.total_cmp(&y);
                    if self.descending { o.reverse() } else { o }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            o.then_with(|| by_name(a, b))
        });
        v
    }

    /// The index of the selected row among `visible` (the first when none is selected or it
    /// is filtered out).
    pub(crate) fn selected_index(&self, visible: &[&Row]) -> usize {
        self.selected
            .as_ref()
            .and_then(|k| visible.iter().position(|r| &r.info.key == k))
            .unwrap_or(0)
    }

    fn move_selection(&mut self, delta: isize) {
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let at = self.selected_index(&visible) as isize;
        let to = (at + delta).clamp(0, visible.len() as isize - 1) as usize;
        self.selected = Some(visible[to].info.key.clone());
    }

    /// Does what `key` asks.
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c' | 'd'))
        {
            return Action::Quit;
        }
        if self.editing {
            match key.code {
                KeyCode::Char(c) => self.filter.push(c),
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Enter => self.editing = false,
                KeyCode::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
                _ => {}
            }
            return Action::Continue;
        }
        if self.detail.is_some() {
            match key.code {
                KeyCode::Char('q') => return Action::Quit,
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Enter | KeyCode::Left => {
                    self.detail = None;
                }
                _ => {}
            }
            return Action::Continue;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Right => {
                let visible = self.visible();
                if let Some(r) = visible.get(self.selected_index(&visible)) {
                    self.detail = Some(r.info.key.clone());
                }
            }
            KeyCode::Char(c) => {
                if let Some(s) = SortKey::from_char(c) {
                    if self.sort == s {
                        self.descending = !self.descending;
                    } else {
                        self.sort = s;
                        self.descending = s != SortKey::Name;
                    }
                }
            }
            _ => {}
        }
        Action::Continue
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::top::source::ContainerUpdate;

    pub(crate) fn container(key: &str, cpu: f64, mem: u64) -> ContainerUpdate {
        ContainerUpdate {
            info: Info {
                key: key.to_owned(),
                name: key.trim_start_matches('/').to_owned(),
                cgroup: Some(key.to_owned()),
                ..Info::default()
            },
            points: vec![Point {
                at_ms: 1_000,
                cpu: Some(cpu),
                memory: Some(mem),
                ..Point::default()
            }],
        }
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn names(app: &App) -> Vec<String> {
        app.visible().iter().map(|r| r.info.name.clone()).collect()
    }

    fn app() -> App {
        let mut app = App::new("http://x".into());
        app.apply(Update {
            kind: Kind::Agent,
            summary: Summary::default(),
            containers: vec![
                container("/a-idle", 0.01, 300),
                container("/b-burn", 0.98, 100),
                container("/c-mid", 0.5, 200),
            ],
        });
        app
    }

    #[test]
    fn keys_sort_filter_select_and_quit() {
        let mut app = app();
        assert_eq!(
            names(&app),
            ["b-burn", "c-mid", "a-idle"],
            "CPU, highest first"
        );
        app.on_key(key('m'));
        assert_eq!(names(&app), ["a-idle", "c-mid", "b-burn"]);
        app.on_key(key('n'));
        assert_eq!(names(&app), ["a-idle", "b-burn", "c-mid"], "name, A to Z");
        app.on_key(key('n'));
        assert_eq!(
            names(&app),
            ["c-mid", "b-burn", "a-idle"],
            "again: reversed"
        );
        app.on_key(key('c'));
        app.on_key(key('/'));
        for c in "MID".chars() {
            app.on_key(key(c));
        }
        assert_eq!(
            app.on_key(key('q')),
            Action::Continue,
            "q is text in the filter"
        );
        app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.filter, "MID");
        assert_eq!(names(&app), ["c-mid"]);
        app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(names(&app).len(), 3);
        app.on_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.detail.as_deref(), Some("/c-mid"));
        app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(app.detail, None);
        assert_eq!(app.on_key(key('q')), Action::Quit);
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
    }

    #[test]
    fn absent_values_sort_last_and_gone_containers_leave() {
        let mut app = app();
        let mut u = Update {
            kind: Kind::Agent,
            summary: Summary::default(),
            containers: vec![container("/b-burn", 0.9, 1), container("/d-new", 0.0, 1)],
        };
        u.containers[1].points[0].cpu = None;
        app.apply(u);
        assert_eq!(names(&app), ["b-burn", "d-new"]);
        assert_eq!(app.rows["/b-burn"].history.len(), 2);
        app.on_key(key('c'));
        assert_eq!(
            names(&app),
            ["b-burn", "d-new"],
            "ascending: absent still last"
        );
    }
}
