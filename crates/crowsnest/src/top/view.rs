//! Drawing `top`'s state with ratatui: a title line, the machine's (or cluster's) totals, the
//! container table with a CPU sparkline per row and a key line; or one container's detail
//! with a sparkline per figure.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Row};
use super::format::{self, Column, bytes, bytes_u, clock, columns, cores, sparkline};
use super::source::Kind;

const KEYS: &str =
    "q quit  c cpu  m memory  n name  x net  i io  p pids  / filter  ↑↓ select  Enter detail";
const DETAIL_KEYS: &str = "Esc back  q quit";

/// Draws `app` on the whole frame.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    if area.height < 3 || area.width < 20 {
        frame.render_widget(Paragraph::new("crowsnest top: too small"), area);
        return;
    }
    let mut lines: Vec<Line<'_>> = vec![title(app), summary(app)];
    let body = usize::from(area.height) - 3;
    let detail = app.detail.as_ref().and_then(|k| app.rows.get(k));
    match detail {
        Some(row) => lines.extend(detail_lines(row, usize::from(area.width), body)),
        None => lines.extend(table_lines(app, usize::from(area.width), body)),
    }
    lines.truncate(usize::from(area.height) - 1);
    frame.render_widget(Paragraph::new(lines), area);
    let footer = Rect {
        y: area.y + area.height - 1,
        height: 1,
        ..area
    };
    frame.render_widget(Paragraph::new(footer_line(app, detail.is_some())), footer);
}

fn title(app: &App) -> Line<'_> {
    let mut parts = vec![Span::styled(
        "crowsnest top",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let kind = app.kind.map_or("", Kind::as_str);
    parts.push(Span::raw(format!(
        " · {kind}{}{}",
        if kind.is_empty() { "" } else { " " },
        app.url
    )));
    match app.kind {
        None => parts.push(Span::raw(" · connecting…")),
        Some(_) => {
            let n = app.rows.len();
            parts.push(Span::raw(format!(
                " · {n} container{}",
                if n == 1 { "" } else { "s" }
            )));
            if let Some(t) = app.updated_ms {
                parts.push(Span::raw(format!(" · {}", clock(t))));
            }
        }
    }
    Line::from(parts)
}

fn summary(app: &App) -> Line<'_> {
    let s = &app.summary;
    let mut parts = Vec::new();
    if let Some(n) = s.nodes {
        parts.push(format!("{n} node{}", if n == 1 { "" } else { "s" }));
    }
    let total = s.total.unwrap_or_default();
    let of = |v: String, cap: Option<String>| match cap {
        Some(c) => format!("{v} of {c}"),
        None => v,
    };
    parts.push(format!(
        "CPU {} cores",
        of(cores(total.cpu), s.cores.map(|c| format!("{c}")))
    ));
    parts.push(format!(
        "memory {}",
        of(bytes_u(total.memory), s.memory.map(|m| bytes_u(Some(m))))
    ));
    parts.push(format!(
        "sorted by {} {}",
        app.sort.label(),
        if app.descending { "↓" } else { "↑" }
    ));
    if !app.filter.is_empty() {
        parts.push(format!("filter: {}", app.filter));
    }
    Line::from(parts.join(" · "))
}

/// The table header and as many rows as fit in `height` lines, the selection kept in view.
fn table_lines<'a>(app: &'a App, width: usize, height: usize) -> Vec<Line<'a>> {
    let cols = columns(app.kind, width, true);
    let fixed: usize = cols.iter().skip(1).map(|c| c.width() + 1).sum();
    let name_width = width.saturating_sub(fixed).max(1);
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| {
            if *c == Column::Name {
                name_width
            } else {
                c.width()
            }
        })
        .collect();
    let render = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(cols.iter().zip(&widths))
            .map(|(t, (c, w))| c.pad(t, *w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let header: Vec<String> = cols
        .iter()
        .map(|c| {
            let sorted = matches!(
                (c, app.sort),
                (Column::Name, super::app::SortKey::Name)
                    | (Column::Cpu, super::app::SortKey::Cpu)
                    | (Column::Memory, super::app::SortKey::Memory)
                    | (Column::Rx, super::app::SortKey::Net)
                    | (Column::Read, super::app::SortKey::Io)
                    | (Column::Pids, super::app::SortKey::Pids)
            );
            if sorted {
                format!("{}{}", c.title(), if app.descending { "↓" } else { "↑" })
            } else {
                c.title().to_owned()
            }
        })
        .collect();
    let mut lines = vec![Line::styled(
        render(header),
        Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )];
    let visible = app.visible();
    if visible.is_empty() {
        lines.push(Line::from(if app.kind.is_none() {
            "waiting for the first answer…"
        } else if app.filter.is_empty() {
            "no containers"
        } else {
            "no container matches the filter"
        }));
        return lines;
    }
    let room = height.saturating_sub(1).max(1);
    let selected = app.selected_index(&visible);
    let offset = (selected + 1).saturating_sub(room);
    for (i, row) in visible.iter().enumerate().skip(offset).take(room) {
        let text = render(cols.iter().map(|c| c.cell(row)).collect());
        let style = if i == selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    lines
}

/// One container: who it is, then one line per figure with its sparkline.
fn detail_lines(row: &Row, width: usize, height: usize) -> Vec<Line<'_>> {
    let i = &row.info;
    let mut lines = Vec::with_capacity(height);
    let mut head = vec![Span::styled(
        i.name.clone(),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if let Some(cg) = i.cgroup.as_ref().filter(|c| **c != i.name) {
        head.push(Span::raw(format!("  {cg}")));
    }
    lines.push(Line::from(head));
    let mut about = Vec::new();
    if let Some(n) = &i.node {
        about.push(format!("node {n}"));
    }
    if let Some(im) = &i.image {
        about.push(format!("image {im}"));
    }
    about.push(format!(
        "CPU limit {}",
        i.cpu_limit
            .map_or_else(|| "none".to_owned(), |c| format!("{c:.2} cores"))
    ));
    about.push(format!(
        "memory limit {}",
        i.memory_limit
            .map_or_else(|| "none".to_owned(), |m| bytes_u(Some(m)))
    ));
    lines.push(Line::from(about.join(" · ")));
    lines.push(Line::from(""));
    let latest = row.latest().copied().unwrap_or_default();
    type Get = fn(&super::rates::Point) -> Option<f64>;
    let figures: [(&str, Get, String, Option<f64>); 7] = [
        (
            "CPU",
            |p| p.cpu,
            format!("{} cores", cores(latest.cpu)),
            i.cpu_limit.or(Some(1.0)),
        ),
        (
            "memory",
            |p| p.memory.map(|v| v as f64),
            bytes_u(latest.memory),
            i.memory_limit.map(|m| m as f64),
        ),
        ("net rx", |p| p.rx, rate(latest.rx), None),
        ("net tx", |p| p.tx, rate(latest.tx), None),
        ("io read", |p| p.read, rate(latest.read), None),
        ("io write", |p| p.write, rate(latest.write), None),
        (
            "pids",
            |p| p.pids.map(|v| v as f64),
            latest
                .pids
                .map_or_else(|| format::ABSENT.to_owned(), |v| v.to_string()),
            None,
        ),
    ];
    let spark_width = width.saturating_sub(10 + 14 + 2);
    for (label, get, value, floor) in figures {
        let values: Vec<Option<f64>> = row.history.iter().map(get).collect();
        let max = values
            .iter()
            .flatten()
            .copied()
            .fold(floor.unwrap_or(0.0), f64::max);
        lines.push(Line::from(vec![
            Span::styled(
                format!("{label:<10}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{value:>14}  ")),
            Span::styled(
                sparkline(&values, max, spark_width.min(values.len().max(1))),
                Style::default().fg(Color::Cyan),
            ),
        ]));
    }
    lines
}

fn rate(v: Option<f64>) -> String {
    match v {
        Some(_) => format!("{}/s", bytes(v)),
        None => format::ABSENT.to_owned(),
    }
}

fn footer_line(app: &App, detail: bool) -> Line<'_> {
    if app.editing {
        return Line::from(vec![
            Span::styled("filter: ", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{}▏", app.filter)),
            Span::raw("  Enter apply  Esc clear"),
        ]);
    }
    if let Some(e) = &app.error {
        return Line::styled(format!("error: {e}"), Style::default().fg(Color::Red));
    }
    Line::from(if detail { DETAIL_KEYS } else { KEYS })
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::top::app::tests::container;
    use crate::top::rates::Point;
    use crate::top::source::{Summary, Update};

    /// The buffer's text, one string per line.
    fn text(buffer: &Buffer) -> Vec<String> {
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    fn draw_text(app: &App, width: u16, height: u16) -> (Vec<String>, Buffer) {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        let b = t.backend().buffer().clone();
        (text(&b), b)
    }

    fn app() -> App {
        let mut app = App::new("http://127.0.0.1:8080".into());
        let mut burn = container("/b-burn", 0.98, 1536);
        burn.info.memory_limit = Some(64 << 20);
        burn.points = (0..6)
            .map(|i| Point {
                at_ms: 3_723_000 + i * 1000,
                cpu: Some(0.2 * i as f64),
                memory: Some(1536),
                rx: Some(2048.0),
                tx: Some(0.0),
                pids: Some(2),
                ..Point::default()
            })
            .collect();
        app.apply(Update {
            kind: Kind::Agent,
            summary: Summary {
                cores: Some(2.0),
                memory: Some(8 << 30),
                nodes: None,
                total: Some(Point {
                    at_ms: 3_728_000,
                    cpu: Some(1.25),
                    memory: Some(3 << 30),
                    ..Point::default()
                }),
            },
            containers: vec![
                container("/a-idle", 0.0, 100),
                burn,
                container("/system.slice/a-very-long-unit-name.service", 0.5, 2 << 20),
            ],
        });
        app
    }

    #[test]
    fn the_table_lists_containers_by_cpu_with_sparklines() {
        let (lines, buffer) = draw_text(&app(), 110, 8);
        assert_eq!(
            lines,
            [
                "crowsnest top · agent http://127.0.0.1:8080 · 3 containers · 01:02:08 UTC                                     ",
                "CPU 1.25 of 2 cores · memory 3.0 GiB of 8.0 GiB · sorted by CPU ↓                                             ",
                "NAME                    CPU↓ CPU HISTORY                 MEM   NET RX/s   NET TX/s  IO READ/s IO WRITE/s  PIDS",
                "b-burn                  1.00                ▂▄▅▇█    1.5 KiB    2.0 KiB        0 B          -          -     2",
                "system.slice/a-very-l…  0.50                    ▄    2.0 MiB          -          -          -          -     -",
                "a-idle                  0.00                           100 B          -          -          -          -     -",
                "                                                                                                              ",
                "q quit  c cpu  m memory  n name  x net  i io  p pids  / filter  ↑↓ select  Enter detail                       ",
            ]
        );
        // The selected row (the first) is drawn reversed, the others are not.
        assert!(buffer[(0, 3)].modifier.contains(Modifier::REVERSED));
        assert!(!buffer[(0, 4)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn a_narrow_terminal_drops_columns_and_the_filter_prompt_shows() {
        let mut app = app();
        app.on_key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
        app.on_key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE));
        let (lines, _) = draw_text(&app, 60, 7);
        assert_eq!(
            lines,
            [
                "crowsnest top · agent http://127.0.0.1:8080 · 3 containers ·",
                "CPU 1.25 of 2 cores · memory 3.0 GiB of 8.0 GiB · sorted by ",
                "NAME↑                   CPU        MEM   NET RX/s   NET TX/s",
                "a-idle                 0.00      100 B          -          -",
                "system.slice/a-very-…  0.50    2.0 MiB          -          -",
                "                                                            ",
                "filter: a▏  Enter apply  Esc clear                          ",
            ]
        );
    }

    #[test]
    fn the_detail_shows_each_figure_with_its_sparkline() {
        let mut app = app();
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let (lines, _) = draw_text(&app, 60, 14);
        assert_eq!(
            lines,
            [
                "crowsnest top · agent http://127.0.0.1:8080 · 3 containers ·",
                "CPU 1.25 of 2 cores · memory 3.0 GiB of 8.0 GiB · sorted by ",
                "b-burn  /b-burn                                             ",
                "CPU limit none · memory limit 64.0 MiB                      ",
                "                                                            ",
                "CPU           1.00 cores   ▂▄▅▇█                            ",
                "memory           1.5 KiB  ▁▁▁▁▁▁                            ",
                "net rx         2.0 KiB/s  ██████                            ",
                "net tx             0 B/s                                    ",
                "io read                -                                    ",
                "io write               -                                    ",
                "pids                   2  ██████                            ",
                "                                                            ",
                "Esc back  q quit                                            ",
            ]
        );
    }
}
