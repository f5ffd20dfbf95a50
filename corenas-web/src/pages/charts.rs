//! Line charts drawn on the server as inline SVG: no script, no chart library, nothing fetched
//! by the browser. Each chart has a visible title, axis labels, a legend, and an accessible
//! `<title>`/`<desc>` that says the latest value of every series, so a screen reader gets the
//! numbers the picture shows. maud escapes every label (pool names, disk ids come from outside).
//!
//! Charts stay small: each series is reduced to at most [`MAX_POINTS`] points (bucket means) and
//! at most [`MAX_SERIES`] series are drawn per chart.

use crate::i18n::Lang;
use corenas_proto::monitor::{HistoryRange, Series};
use maud::{Markup, html};

pub const MAX_POINTS: usize = 240;
pub const MAX_SERIES: usize = 8;

const W: f64 = 480.0;
const LEFT: f64 = 66.0;
const RIGHT: f64 = W - 12.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 170.0;
const LEGEND_TOP: f64 = 212.0;
const ROW: f64 = 17.0;

/// Colours that stay apart for common colour blindness (Okabe–Ito), as presentation
/// attributes: the CSP allows no inline styles.
const PALETTE: [&str; MAX_SERIES] =
    ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#b8a600", "#8a8a8a"];

/// How values are shown on the axis and in the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A ratio 0..1, shown as percent on a fixed 0–100 % axis.
    Ratio,
    Celsius,
    Bytes,
    BytesPerSecond,
}

impl Unit {
    pub fn format(self, l: Lang, v: f64) -> String {
        match self {
            Unit::Ratio => l.percent(v * 100.0),
            Unit::Celsius => format!("{} °C", l.decimal(v)),
            Unit::Bytes => l.size(whole(v)),
            Unit::BytesPerSecond => l.rate(whole(v)),
        }
    }
}

/// A byte count from a series value (non-finite and negative values are 0).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "saturating float-to-int, clamped at 0")]
fn whole(v: f64) -> u64 {
    if v.is_finite() { v.max(0.0).round() as u64 } else { 0 }
}

/// One line of a chart: its legend label and its points (seconds since the epoch, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Unique on the page (the `<title>`/`<desc>` ids derive from it); ASCII.
    pub id: String,
    pub title: String,
    pub unit: Unit,
    pub range: HistoryRange,
    pub lines: Vec<Line>,
}

/// A series' points turned from a running counter into a rate per second (a counter that went
/// down was reset: that step is left out).
pub fn rate_of(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    points
        .windows(2)
        .filter_map(|w| {
            let ((t0, v0), (t1, v1)) = (w[0], w[1]);
            (t1 > t0 && v1 >= v0).then(|| (t1, (v1 - v0) / (t1 - t0) as f64))
        })
        .collect()
}

/// At most `max` points: the means of equal buckets, in time order. Non-finite values are
/// dropped first (a broken sample must not break the drawing).
pub fn reduce(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    let clean: Vec<(i64, f64)> = points.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    if clean.len() <= max || max == 0 {
        return clean;
    }
    let per = clean.len().div_ceil(max);
    clean
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            // The bucket's middle time (integer maths: no precision lost on epoch seconds).
            let t = c[c.len() / 2].0;
            let v = c.iter().map(|(_, v)| *v).sum::<f64>() / n;
            (t, v)
        })
        .collect()
}

fn range_seconds(r: HistoryRange) -> i64 {
    match r {
        HistoryRange::Day => 86_400,
        HistoryRange::Week => 7 * 86_400,
        HistoryRange::Month => 31 * 86_400,
        HistoryRange::Year => 366 * 86_400,
    }
}

/// A time on the x axis: the hour for a day, day and hour for a week, the date beyond.
pub fn tick_label(l: Lang, secs: i64, range: HistoryRange) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else { return String::new() };
    let (y, m, d, hh, mm) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
    match (range, l) {
        (HistoryRange::Day, _) => format!("{hh:02}:{mm:02}"),
        (HistoryRange::Week, Lang::En) => format!("{m:02}-{d:02} {hh:02}:{mm:02}"),
        (HistoryRange::Week, Lang::De) => format!("{d:02}.{m:02}. {hh:02}:{mm:02}"),
        (_, Lang::En) => format!("{y:04}-{m:02}-{d:02}"),
        (_, Lang::De) => format!("{d:02}.{m:02}.{y:04}"),
    }
}

/// The value axis: fixed 0–100 % for ratios, a padded band for temperatures, from zero for
/// sizes and rates.
fn value_span(unit: Unit, lines: &[Line]) -> (f64, f64) {
    let values = || lines.iter().flat_map(|s| s.points.iter().map(|(_, v)| *v));
    let max = values().fold(f64::NEG_INFINITY, f64::max);
    let min = values().fold(f64::INFINITY, f64::min);
    if !max.is_finite() {
        return (0.0, 1.0);
    }
    match unit {
        Unit::Ratio => (0.0, max.max(1.0)),
        Unit::Celsius => {
            let lo = (min / 5.0).floor() * 5.0 - 5.0;
            let hi = ((max / 5.0).ceil() * 5.0 + 5.0).max(lo + 10.0);
            (lo, hi)
        }
        _ => {
            let lo = min.min(0.0);
            let hi = if max > lo { max * 1.1 } else { lo + 1.0 };
            (lo, hi)
        }
    }
}

/// A legend label cut to fit its column (the description keeps it whole).
fn short(label: &str) -> String {
    const MAX: usize = 22;
    if label.chars().count() <= MAX {
        return label.to_owned();
    }
    let mut cut: String = label.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// The SVG path of one line; a pause in the data (more than a tenth of the range, or five
/// times the usual step) lifts the pen instead of drawing a straight line across it.
fn path_of(points: &[(i64, f64)], x: &impl Fn(i64) -> f64, y: &impl Fn(f64) -> f64, window: i64) -> String {
    let mut steps: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    steps.sort_unstable();
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(0);
    let gap = (window / 10).max(usual * 5).max(1);
    let mut d = String::new();
    let mut prev: Option<i64> = None;
    for (t, v) in points {
        let pen = if prev.is_some_and(|p| t - p <= gap) { 'L' } else { 'M' };
        d.push_str(&format!("{pen}{} {} ", fmt(x(*t)), fmt(y(*v))));
        prev = Some(*t);
    }
    d.trim_end().to_owned()
}

/// The chart as an inline `<svg>` (well-formed XML: every element closed, every text escaped).
pub fn render(l: Lang, chart: &Chart) -> Markup {
    let shown: Vec<Line> = chart
        .lines
        .iter()
        .take(MAX_SERIES)
        .map(|s| Line { label: s.label.clone(), points: reduce(&s.points, MAX_POINTS) })
        .collect();
    let hidden = chart.lines.len().saturating_sub(MAX_SERIES);
    let end = shown.iter().filter_map(|s| s.points.last().map(|p| p.0)).max().unwrap_or(0);
    let window = range_seconds(chart.range);
    let start = end - window;
    let (lo, hi) = value_span(chart.unit, &shown);
    let x = move |t: i64| LEFT + (t - start) as f64 / window as f64 * (RIGHT - LEFT);
    let y = move |v: f64| BOTTOM - (v - lo) / (hi - lo) * (BOTTOM - TOP);
    let rows = shown.len().div_ceil(2).max(1) + usize::from(hidden > 0);
    let height = LEGEND_TOP + rows as f64 * ROW;
    let (title_id, desc_id) = (format!("{}-title", chart.id), format!("{}-desc", chart.id));
    let empty = shown.iter().all(|s| s.points.is_empty());
    let desc = if empty {
        l.t("No values recorded in this period yet.", "In diesem Zeitraum wurden noch keine Werte aufgezeichnet.")
            .to_owned()
    } else {
        let mut parts = Vec::new();
        for s in &shown {
            if let Some((_, last)) = s.points.last() {
                let min = s.points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let max = s.points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
                parts.push(format!(
                    "{}: {} {} ({} {} {} {})",
                    s.label,
                    l.t("now", "jetzt"),
                    chart.unit.format(l, *last),
                    l.t("from", "von"),
                    chart.unit.format(l, min),
                    l.t("to", "bis"),
                    chart.unit.format(l, max),
                ));
            }
        }
        format!(
            "{} {} – {}. {}",
            l.t("From", "Von"),
            tick_label(l, start, chart.range),
            tick_label(l, end, chart.range),
            parts.join("; ")
        )
    };
    let ticks = [lo, (lo + hi) / 2.0, hi];
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {W} {height}"))
            width="100%" aria-labelledby=(format!("{title_id} {desc_id}")) font-family="sans-serif" font-size="12" {
            title id=(title_id) { (chart.title) }
            desc id=(desc_id) { (desc) }
            text x=(fmt(LEFT)) y="16" font-size="13" font-weight="bold" fill="currentColor" { (chart.title) }
            // The axes and the value grid.
            @for v in ticks {
                line x1=(fmt(LEFT)) x2=(fmt(RIGHT)) y1=(fmt(y(v))) y2=(fmt(y(v))) stroke="#999999" stroke-width="0.5" {}
                text x=(fmt(LEFT - 4.0)) y=(fmt(y(v) + 4.0)) text-anchor="end" fill="currentColor" { (chart.unit.format(l, v)) }
            }
            line x1=(fmt(LEFT)) x2=(fmt(LEFT)) y1=(fmt(TOP)) y2=(fmt(BOTTOM)) stroke="currentColor" stroke-width="1" {}
            @if empty {
                text x=(fmt((LEFT + RIGHT) / 2.0)) y=(fmt((TOP + BOTTOM) / 2.0)) text-anchor="middle" fill="currentColor" { (desc) }
            } @else {
                text x=(fmt(LEFT)) y=(fmt(BOTTOM + 16.0)) fill="currentColor" { (tick_label(l, start, chart.range)) }
                text x=(fmt((LEFT + RIGHT) / 2.0)) y=(fmt(BOTTOM + 16.0)) text-anchor="middle" fill="currentColor" { (tick_label(l, start + window / 2, chart.range)) }
                text x=(fmt(RIGHT)) y=(fmt(BOTTOM + 16.0)) text-anchor="end" fill="currentColor" { (tick_label(l, end, chart.range)) }
                @for (i, s) in shown.iter().enumerate() {
                    @if s.points.len() == 1 {
                        circle cx=(fmt(x(s.points[0].0))) cy=(fmt(y(s.points[0].1))) r="2.5" fill=(PALETTE[i]) {}
                    } @else if !s.points.is_empty() {
                        path d=(path_of(&s.points, &x, &y, window)) fill="none" stroke=(PALETTE[i]) stroke-width="1.5" {}
                    }
                }
            }
            // The legend: two columns under the plot.
            @for (i, s) in shown.iter().enumerate() {
                @let (lx, ly) = (LEFT + (i % 2) as f64 * 200.0, LEGEND_TOP - 10.0 + (i / 2) as f64 * ROW);
                rect x=(fmt(lx)) y=(fmt(ly - 8.0)) width="10" height="10" fill=(PALETTE[i]) {}
                text x=(fmt(lx + 14.0)) y=(fmt(ly + 1.0)) fill="currentColor" {
                    (short(&s.label)) @if let Some((_, v)) = s.points.last() { " · " (chart.unit.format(l, *v)) }
                }
            }
            @if hidden > 0 {
                text x=(fmt(LEFT)) y=(fmt(height - 6.0)) fill="currentColor" {
                    (format!("{} {hidden} {}", l.t("and", "und"), l.t("more not shown", "weitere nicht gezeigt")))
                }
            }
        }
    }
}

/// The history prefixes the dashboard asks for, one request per chart ([`place`] sorts them).
pub const PREFIXES: [&str; 5] = ["pool_used", "disk_temperature", "cpu", "memory", "net_"];

/// Where a history series is drawn.
pub struct Placement {
    /// Which chart ("pools", "temps", "cpu", "memory", "net").
    pub chart: &'static str,
    /// The chart's title in English and German.
    pub title: (&'static str, &'static str),
    pub unit: Unit,
    /// The values are a running counter (drawn as a rate).
    pub counter: bool,
    /// The legend label: the series' subject, with what it measures where a chart mixes them.
    pub label: String,
}

/// Which chart a history series belongs to, from its name (`base:subject`).
pub fn place(series: &Series) -> Option<Placement> {
    let (base, subject) = series.name.split_once(':').unwrap_or((series.name.as_str(), ""));
    let label = |suffix: &str| {
        let s = if subject.is_empty() { suffix.to_owned() } else { format!("{subject} {suffix}") };
        s.trim().to_owned()
    };
    let pools = ("Pool usage", "Poolbelegung");
    let temps = ("Disk temperatures", "Festplattentemperaturen");
    let cpu = ("CPU", "Prozessor");
    let mem = ("Memory", "Arbeitsspeicher");
    let net = ("Network", "Netzwerk");
    let (chart, title, unit, counter, label) = match base {
        b if b.starts_with("pool_used") && b.ends_with("_ratio") => ("pools", pools, Unit::Ratio, false, label("")),
        b if b.starts_with("disk_temperature") => ("temps", temps, Unit::Celsius, false, label("")),
        b if b.starts_with("cpu") && b.ends_with("_ratio") => ("cpu", cpu, Unit::Ratio, false, label("")),
        b if b.starts_with("memory") && b.ends_with("_ratio") => ("memory", mem, Unit::Ratio, false, label("")),
        b if b.starts_with("memory") && b.ends_with("_bytes") => {
            let what = b.trim_start_matches("memory_").trim_end_matches("_bytes").replace('_', " ");
            ("memory", mem, Unit::Bytes, false, label(&what))
        }
        b if b.starts_with("net_") => {
            let dir = if b.contains("rx") || b.contains("receive") { "rx" } else { "tx" };
            let counter = b.ends_with("_total") || b.ends_with("_bytes");
            ("net", net, Unit::BytesPerSecond, counter, label(dir))
        }
        _ => return None,
    };
    Some(Placement { chart, title, unit, counter, label })
}

/// The dashboard's charts from a history answer: pools, disk temperatures, CPU, memory, network,
/// in that order, each only when it has series. `label_of` names a series' subject for people
/// (a disk id becomes `sda (model)`).
pub fn charts_of(l: Lang, history: &[Series], range: HistoryRange, label_of: &dyn Fn(&str) -> String) -> Vec<Chart> {
    let order = ["pools", "temps", "cpu", "memory", "net"];
    let mut charts: Vec<Chart> = Vec::new();
    for key in order {
        let mut chart: Option<Chart> = None;
        for s in history {
            let Some(Placement { chart: k, title: (en, de), unit, counter, label }) = place(s) else { continue };
            if k != key {
                continue;
            }
            let c = chart.get_or_insert_with(|| Chart {
                id: format!("chart-{key}"),
                title: l.t(en, de).to_owned(),
                unit,
                range,
                lines: Vec::new(),
            });
            // One memory chart shows one unit: ratios win over byte counts.
            if c.unit != unit {
                continue;
            }
            let points = if counter { rate_of(&s.points) } else { s.points.clone() };
            // A series of the whole machine (CPU, memory) has no subject: the chart names it.
            let label = if label.is_empty() { c.title.clone() } else { label_of(&label) };
            c.lines.push(Line { label, points });
        }
        charts.extend(chart);
    }
    charts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: Vec<(i64, f64)>) -> Series {
        Series { name: name.to_owned(), points }
    }

    #[test]
    fn labels_from_outside_are_escaped_in_the_svg() {
        let hostile = "</text></svg><script>alert(1)</script>&\"'";
        let chart = Chart {
            id: "chart-temps".into(),
            title: "Disk temperatures".into(),
            unit: Unit::Celsius,
            range: HistoryRange::Day,
            lines: vec![Line { label: hostile.into(), points: vec![(1000, 30.0), (1060, 31.0)] }],
        };
        let svg = render(Lang::En, &chart).into_string();
        assert!(!svg.contains("<script>") && !svg.contains("</svg><"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.ends_with("</svg>"), "{svg}");
    }

    #[test]
    fn charts_have_a_title_a_description_and_axis_labels() {
        let chart = Chart {
            id: "chart-pools".into(),
            title: "Pool usage".into(),
            unit: Unit::Ratio,
            range: HistoryRange::Day,
            lines: vec![Line { label: "tank".into(), points: vec![(0, 0.25), (3600, 0.5)] }],
        };
        let svg = render(Lang::De, &chart).into_string();
        assert!(svg.contains("<title id=\"chart-pools-title\">Pool usage</title>"), "{svg}");
        assert!(svg.contains("<desc id=\"chart-pools-desc\">") && svg.contains("tank: jetzt 50,0 %"), "{svg}");
        assert!(svg.contains(">100,0 %</text>") && svg.contains(">0,0 %</text>"), "value axis: {svg}");
        assert!(svg.contains(">01:00</text>"), "time axis: {svg}");
        assert!(svg.contains("<path d=\"M"), "{svg}");
    }

    #[test]
    fn an_empty_chart_says_so_and_non_finite_values_are_dropped() {
        let chart = Chart {
            id: "c".into(),
            title: "CPU".into(),
            unit: Unit::Ratio,
            range: HistoryRange::Week,
            lines: vec![Line { label: "cpu".into(), points: vec![(5, f64::NAN)] }],
        };
        let svg = render(Lang::En, &chart).into_string();
        assert!(svg.contains("No values recorded") && !svg.contains("NaN"), "{svg}");
    }

    #[test]
    fn long_series_are_reduced_and_counters_become_rates() {
        let points: Vec<(i64, f64)> = (0..10_000).map(|i| (i * 60, i as f64)).collect();
        let reduced = reduce(&points, MAX_POINTS);
        assert!(reduced.len() <= MAX_POINTS && reduced.len() > MAX_POINTS / 2, "{}", reduced.len());
        assert!(reduced.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        let counter = [(0, 100.0), (10, 1100.0), (20, 50.0), (30, 150.0)];
        assert_eq!(rate_of(&counter), vec![(10, 100.0), (30, 10.0)], "the reset step is left out");
    }

    #[test]
    fn series_are_grouped_into_the_dashboard_charts() {
        let history = vec![
            series("pool_used_ratio:tank", vec![(0, 0.1)]),
            series("disk_temperature_celsius:wwn-1", vec![(0, 30.0)]),
            series("cpu_busy_ratio", vec![(0, 0.2)]),
            series("net_rx_bytes:eth0", vec![(0, 0.0), (10, 1000.0)]),
            series("net_tx_bytes:eth0", vec![(0, 0.0), (10, 500.0)]),
            series("something_else:x", vec![(0, 1.0)]),
            series("memory_used_ratio", vec![(0, 0.5)]),
            series("net_rx_bytes_per_second:eth1", vec![(0, 7.0)]),
        ];
        let charts = charts_of(Lang::En, &history, HistoryRange::Day, &|s| format!("<{s}>"));
        let keys: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(keys, ["chart-pools", "chart-temps", "chart-cpu", "chart-memory", "chart-net"]);
        let net = &charts[4];
        assert_eq!(net.lines[0].label, "<eth0 rx>");
        assert_eq!(net.lines[0].points, vec![(10, 100.0)]);
        assert_eq!(net.lines[1].points, vec![(10, 50.0)]);
        assert_eq!((net.lines[2].label.as_str(), &net.lines[2].points), ("<eth1 rx>", &vec![(0, 7.0)]), "a rate stays");
    }
}
