//! The PNG charts: 1000x600, white background, a title, labelled axes and a legend each. Text
//! uses the embedded DejaVu Sans font (no system fonts), laid out and drawn by `canvas`. Empty
//! or NaN data never panics: the series is skipped and a chart with nothing left to draw says
//! "no data".
//!
//! What each chart tells a reader at a glance: the latency CDF marks the turn's p50, p95 and
//! p99 (the summary's estimates) with their values beside a tail panel, the share of requests
//! slower than x on a log scale; the breakdown runs one row per component, plus the turn's
//! total, with labels past the whisker ends and the legend outside the bars; the cost chart
//! names components in words and gives dollars per month and per session; the time series
//! reads in minutes, or in hours for a long run (as `over_time.png` does), draws the rule's
//! concurrency target when it scales on concurrency, and marks the intervals with an instance
//! crash.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::canvas::{Canvas, FONT_BYTES};
use super::format::{money, money_tick, pct, secs, tick};
use crate::metrics::TurnComponent;
use crate::results::DAYS_PER_MONTH;
use crate::results::{LatencySummary, MeasuredRequest, RunOutput, TimeSeriesRow};
use crate::stats::Estimate;

pub(super) const SIZE: (u32, u32) = (1000, 600);
pub(super) const FONT: &str = "sans-serif";

pub(super) const C_BLUE: RGBColor = RGBColor(31, 119, 180);
pub(super) const C_ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(super) const C_GREEN: RGBColor = RGBColor(44, 160, 44);
pub(super) const C_RED: RGBColor = RGBColor(214, 39, 40);
pub(super) const C_PURPLE: RGBColor = RGBColor(148, 103, 189);
pub(super) const C_BROWN: RGBColor = RGBColor(140, 86, 75);
pub(super) const C_GREY: RGBColor = RGBColor(127, 127, 127);
pub(super) const C_DARK: RGBColor = RGBColor(50, 50, 50);
/// The scaling rule's concurrency target.
const C_PINK: RGBColor = RGBColor(227, 119, 194);
/// Colours for the scaling rule's CPU lines, in turn.
const RULE_COLOURS: [RGBColor; 3] = [C_RED, C_PURPLE, C_BROWN];

pub(super) type Area<'a> = DrawingArea<Canvas<'a>, Shift>;
/// The signature every chart function shares.
pub(super) type DrawFn = fn(&RunOutput, &Path) -> anyhow::Result<()>;
/// Width of one category on a bar chart's discrete axis (integer coordinates keep plotters'
/// label formatting available).
pub(super) const SLOT: i32 = 100;
/// Bounds on the width kept on the right of the time-series panels for their legends.
const PANEL_LEGEND_WIDTH: Range<u32> = 170..400;
/// Legend entry geometry: swatch from 12 to 36 px, label from 44 px.
const LEGEND_TEXT_X: i32 = 44;

/// Registers the embedded font under `sans-serif`, once per process.
fn ensure_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font could not be loaded"))
    }
}

/// Opens a white canvas with `title`, lets `draw` fill the rest and writes the PNG. The image
/// is drawn in memory and written here, so a failed write names the file and the system's
/// reason (a full disk, say) rather than a drawing-backend error.
pub(super) fn render(
    path: &Path,
    title: &str,
    draw: impl FnOnce(&Area) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    render_sized(path, SIZE, title, draw)
}

/// [`render`] on a canvas of `size` pixels.
pub(super) fn render_sized(
    path: &Path,
    size: (u32, u32),
    title: &str,
    draw: impl FnOnce(&Area) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use image::ImageEncoder;
    ensure_font()?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = Canvas(BitMapBackend::with_buffer(&mut pixels, size)).into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.margin(8, 0, 0, 0).titled(title, (FONT, 26))?;
        draw(&body)?;
        root.present()?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
        .context("encoding the PNG")?;
    std::fs::write(path, png).with_context(|| format!("could not write {}", path.display()))
}

/// The "no data" note, centred in `area`.
pub(super) fn no_data(area: &Area, why: &str) -> anyhow::Result<()> {
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 24))
        .color(&C_GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(
        &format!("no data ({why})"),
        &style,
        (w as i32 / 2, h as i32 / 2),
    )?;
    Ok(())
}

/// The largest finite value, or `None`.
pub(super) fn finite_max(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .reduce(f64::max)
}

/// Upper bound for an axis showing values up to `max` (never empty, never NaN).
pub(super) fn axis_top(max: Option<f64>, headroom: f64) -> f64 {
    match max {
        Some(m) if m > 0.0 => m * headroom,
        _ => 1.0,
    }
}

/// Points of one metric's CDF from the histogram rows, x in seconds and y in percent, sorted,
/// starting at (0, 0).
fn cdf_points(out: &RunOutput, metric: MeasuredRequest) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = out
        .histogram
        .iter()
        .filter(|r| r.metric == metric && r.upper_s.is_finite() && r.cdf.is_finite())
        .map(|r| (r.upper_s, r.cdf * 100.0))
        .collect();
    if pts.is_empty() {
        return pts;
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts[0].0 > 0.0 {
        pts.insert(0, (0.0, 0.0));
    }
    pts
}

/// The smallest x whose CDF reaches `percent`, else the largest x.
fn x_at_percent(pts: &[(f64, f64)], percent: f64) -> Option<f64> {
    pts.iter()
        .find(|p| p.1 >= percent)
        .or(pts.last())
        .map(|p| p.0)
}

/// Cuts a polyline at `x_max`, interpolating the last point.
fn clip_x(pts: &[(f64, f64)], x_max: f64) -> Vec<(f64, f64)> {
    let mut clipped = Vec::with_capacity(pts.len());
    for (i, &(x, y)) in pts.iter().enumerate() {
        if x <= x_max {
            clipped.push((x, y));
            continue;
        }
        if let Some(&(x0, y0)) = i.checked_sub(1).and_then(|j| pts.get(j)) {
            let t = if x > x0 { (x_max - x0) / (x - x0) } else { 0.0 };
            clipped.push((x_max, y0 + t * (y - y0)));
        }
        break;
    }
    clipped
}

/// The turn percentiles the CDF marks: name, percent of requests at or below, seconds (the
/// summary's estimates, so the chart and the terminal quote the same numbers); NaNs left out.
fn percentile_marks(turn: &LatencySummary) -> Vec<(&'static str, f64, f64)> {
    [
        ("p50", 50.0, turn.p50.value),
        ("p95", 95.0, turn.p95.value),
        ("p99", 99.0, turn.p99.value),
    ]
    .into_iter()
    .filter(|m| m.2.is_finite() && m.2 >= 0.0)
    .collect()
}

/// A mark's label: `p95 11.6 s`.
fn mark_label(name: &str, seconds: f64) -> String {
    format!("{name} {}", secs(seconds))
}

/// Tail points of a CDF: x against the percent of requests slower than x, only where some are
/// (a log axis has no zero).
fn exceedance(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    pts.iter()
        .map(|&(x, below)| (x, 100.0 - below))
        .filter(|p| p.1 > 1e-9)
        .collect()
}

/// The bottom of the tail panel's log axis: the power of ten at or below the smallest share.
fn tail_floor(tails: &[&[(f64, f64)]]) -> f64 {
    let least = tails
        .iter()
        .flat_map(|t| t.iter().map(|p| p.1))
        .filter(|v| v.is_finite() && *v > 0.0)
        .reduce(f64::min)
        .unwrap_or(1.0);
    10f64.powf(least.log10().floor()).min(1.0)
}

/// A percent tick of a log axis: `10 %`, `0.1 %`.
fn percent_tick(v: &f64) -> String {
    format!("{} %", tick(v))
}

/// The `turn_p95` SLO bound, when there is one.
fn slo_p95(out: &RunOutput) -> Option<f64> {
    out.summary
        .slo
        .checks
        .iter()
        .find(|c| c.name == "turn_p95")
        .map(|c| c.target)
        .filter(|t| t.is_finite() && *t > 0.0)
}

/// Draws the SLO bound as a dashed vertical line over `y`, with its legend entry; off the
/// scale, the entry alone says so.
fn draw_slo<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, Y>>,
    slo: f64,
    x_max: f64,
    y: (f64, f64),
) -> anyhow::Result<()> {
    let legend = move |(x, y)| {
        DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, C_RED.stroke_width(2))
    };
    if slo <= x_max {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(slo, y.0), (slo, y.1)],
                10,
                6,
                C_RED.stroke_width(2),
            ))?
            .label(format!("SLO p95 ≤ {}", secs(slo)))
            .legend(legend);
    } else {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label(format!("SLO p95 ≤ {} (off scale)", secs(slo)))
            .legend(legend);
    }
    Ok(())
}

/// A text at a data point of a chart over `X` and `Y`.
type PointLabel<X, Y> = ((<X as Ranged>::ValueType, <Y as Ranged>::ValueType), String);

/// Draws each label at its point, offset by `offset` pixels and anchored `pos`, with a filled
/// dot at the point when `dot` is set.
fn draw_labels<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, Canvas<'b>, Cartesian2d<X, Y>>,
    labels: Vec<PointLabel<X, Y>>,
    dot: bool,
    offset: (i32, i32),
    pos: Pos,
) -> anyhow::Result<()>
where
    X::ValueType: Clone + 'a,
    Y::ValueType: Clone + 'a,
{
    let text = TextStyle::from((FONT, if dot { 14 } else { 13 }))
        .color(&C_DARK)
        .pos(pos);
    let radius = if dot { 5 } else { 0 };
    chart.draw_series(labels.into_iter().map(|(at, label)| {
        EmptyElement::at(at)
            + Circle::new((0, 0), radius, C_DARK.filled())
            + Text::new(label, offset, text.clone())
    }))?;
    Ok(())
}

/// Two panels: the CDF of turn and session-start latency (x capped at the turn p99.9) with the
/// turn's p50, p95 and p99 marked and written, and the tail, the percent of requests slower
/// than x on a log scale up to the slowest. The `turn_p95` SLO bound is dashed in both.
pub fn latency_cdf(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let turn = cdf_points(out, MeasuredRequest::Turn);
    let start = cdf_points(out, MeasuredRequest::SessionStart);
    let slo = slo_p95(out);
    let marks = percentile_marks(&out.summary.turn_latency_s);
    render(path, "Latency distribution: CDF and tail", |area| {
        let body = x_at_percent(&turn, 99.9).or_else(|| x_at_percent(&start, 99.9));
        let Some(body) = body.filter(|b| *b > 0.0) else {
            return no_data(area, "no latency histogram");
        };
        let curves = [
            (MeasuredRequest::Turn.label(), &turn, C_BLUE),
            (MeasuredRequest::SessionStart.label(), &start, C_ORANGE),
        ];
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 * 56 / 100);

        // Widen the axis to show the SLO bound unless that would squash the curves.
        let slo_on_scale = slo.filter(|t| *t <= 3.0 * body);
        let x_max = body.max(slo_on_scale.unwrap_or(0.0)) * 1.05;
        let mut chart = ChartBuilder::on(&left)
            .margin(12)
            .caption("share at or below (CDF)", (FONT, 17))
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (s)")
            .y_desc("requests at or below (%)")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for (label, pts, colour) in curves {
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(clip_x(pts, x_max), colour.stroke_width(3)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
                });
        }
        if let Some(t) = slo {
            draw_slo(&mut chart, t, x_max, (0.0, 100.0))?;
        }
        // Below and right of a point on a CDF the curve has no ink: the labels go there.
        let below_right = Pos::new(HPos::Left, VPos::Top);
        let dots: Vec<_> = marks
            .iter()
            .filter(|m| m.2 <= x_max)
            .map(|&(name, at, x)| ((x, at), mark_label(name, x)))
            .collect();
        if !dots.is_empty() {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("turn percentile")
                .legend(|(x, y)| Circle::new((x + 12, y), 5, C_DARK.filled()));
        }
        draw_labels(&mut chart, dots, true, (8, 3), below_right)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;

        let tails = [exceedance(&turn), exceedance(&start)];
        let slowest = finite_max(tails.iter().flat_map(|t| t.iter().map(|p| p.0)));
        let x_tail = slowest.unwrap_or(body).max(slo_on_scale.unwrap_or(0.0)) * 1.05;
        let floor = tail_floor(&[&tails[0], &tails[1]]);
        let mut chart = ChartBuilder::on(&right)
            .margin(12)
            .caption("tail: slower than x (log scale)", (FONT, 17))
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..x_tail, (floor..100.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("latency (s)")
            .y_desc("requests slower (%)")
            .x_label_formatter(&tick)
            .y_label_formatter(&percent_tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for ((_, _, colour), pts) in curves.iter().zip(&tails) {
            chart.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
        }
        if let Some(t) = slo.filter(|t| *t <= x_tail) {
            chart.draw_series(DashedLineSeries::new(
                vec![(t, floor), (t, 100.0)],
                10,
                6,
                C_RED.stroke_width(2),
            ))?;
        }
        // Above and right of a point on a falling tail the curve has no ink.
        let above_right = Pos::new(HPos::Left, VPos::Bottom);
        let dots = marks
            .iter()
            .filter(|m| m.2 <= x_tail)
            .map(|&(name, at, x)| ((x, 100.0 - at), mark_label(name, x)))
            .collect();
        draw_labels(&mut chart, dots, true, (8, -3), above_right)
    })
}

/// One line of a time-series panel.
pub(super) struct Line {
    pub(super) label: String,
    pub(super) colour: RGBColor,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) dashed: bool,
}

impl Line {
    /// A solid line from a time-series column (x in `unit`s, y scaled), NaN points dropped.
    pub(super) fn column(
        label: &str,
        colour: RGBColor,
        (rows, unit): (&[TimeSeriesRow], TimeUnit),
        scale: f64,
        col: impl Fn(&TimeSeriesRow) -> f64,
    ) -> Self {
        let points = rows
            .iter()
            .map(|r| (r.time_s / unit.seconds, col(r) * scale))
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        Self {
            label: label.to_string(),
            colour,
            points,
            dashed: false,
        }
    }

    /// A dashed horizontal line across `x`.
    pub(super) fn level(label: String, colour: RGBColor, y: f64, x: &Range<f64>) -> Self {
        Self {
            label,
            colour,
            points: vec![(x.start, y), (x.end, y)],
            dashed: true,
        }
    }
}

/// One stacked panel of a chart over time.
pub(super) struct Panel<'s> {
    pub(super) y_desc: &'s str,
    pub(super) x_desc: Option<&'s str>,
    pub(super) lines: Vec<Line>,
    /// The y axis reaches at least this far.
    pub(super) y_floor: f64,
    /// Legend entries with no line (e.g. a bound far off the scale).
    pub(super) notes: Vec<(String, RGBColor)>,
    /// Label the warm-up shading in this panel's legend.
    pub(super) warmup_label: bool,
    /// Instants marked by short ticks rising from the x axis, with their legend label.
    pub(super) ticks: Option<Ticks>,
}

/// Instants marked on a panel (x in the panel's time unit).
pub(super) struct Ticks {
    label: &'static str,
    colour: RGBColor,
    at: Vec<f64>,
}

/// Runs longer than this are drawn in hours.
const HOURS_FROM_S: f64 = 3.0 * 3600.0;

/// The unit of a time axis: seconds per unit and the axis description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TimeUnit {
    pub(super) seconds: f64,
    pub(super) x_desc: &'static str,
}

impl TimeUnit {
    /// The unit of every chart over time for a run this long: minutes up to three hours,
    /// hours beyond, so a run's charts over time read alike.
    pub(super) fn for_span(span_s: f64) -> TimeUnit {
        if span_s > HOURS_FROM_S {
            TimeUnit {
                seconds: 3600.0,
                x_desc: "simulated time (h)",
            }
        } else {
            TimeUnit {
                seconds: 60.0,
                x_desc: "simulated time (min)",
            }
        }
    }
}

/// The starts of the time-series buckets in which an instance crashed in some replication.
fn crash_times(rows: &[TimeSeriesRow]) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.instance_crashes > 0.0 && r.time_s.is_finite())
        .map(|r| r.time_s)
        .collect()
}

/// The rule's concurrency target over time: ready instances x max concurrency x the target
/// fraction, the in-flight count above which it adds instances.
fn concurrency_line(
    (rows, unit): (&[TimeSeriesRow], TimeUnit),
    target: f64,
    max_concurrency: u32,
) -> Line {
    let per_instance = target * f64::from(max_concurrency);
    let label = format!(
        "concurrency target ({} per ready instance)",
        tick(&per_instance)
    );
    Line {
        dashed: true,
        ..Line::column(&label, C_PINK, (rows, unit), per_instance, |r| {
            r.instances_ready
        })
    }
}

/// What a legend entry shows beside its label.
enum Swatch {
    Solid(RGBColor),
    Tick(RGBColor),
    Dashed(RGBColor),
    Block(ShapeStyle),
}

fn legend_text() -> TextStyle<'static> {
    TextStyle::from((FONT, 13))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// A legend drawn by hand into `area` (plotters clips its own legend to the plotting area).
fn side_legend(area: &Area, entries: &[(String, Swatch)]) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    const TOP: i32 = 8;
    const ROW: i32 = 20;
    let width = i32::try_from(area.dim_in_pixel().0).unwrap_or(0);
    let bottom = TOP + 6 + ROW * i32::try_from(entries.len()).unwrap_or(0);
    area.draw(&Rectangle::new([(4, TOP), (width - 6, bottom)], C_GREY))?;
    let text = legend_text();
    for (i, (label, swatch)) in entries.iter().enumerate() {
        let y = TOP + 3 + ROW / 2 + ROW * i32::try_from(i).unwrap_or(0);
        let span = vec![(12, y), (36, y)];
        match swatch {
            Swatch::Solid(c) => area.draw(&PathElement::new(span, c.stroke_width(2)))?,
            Swatch::Tick(c) => area.draw(&PathElement::new(
                vec![(24, y - 7), (24, y + 7)],
                c.stroke_width(2),
            ))?,
            Swatch::Dashed(c) => {
                area.draw(&DashedPathElement::new(span, 6, 4, c.stroke_width(2)))?
            }
            Swatch::Block(style) => {
                area.draw(&Rectangle::new([(12, y - 6), (36, y + 6)], *style))?
            }
        }
        area.draw_text(label, &text, (LEGEND_TEXT_X, y))?;
    }
    Ok(())
}

impl Panel<'_> {
    /// Every label its legend may show.
    fn labels(&self) -> impl Iterator<Item = &str> {
        let warmup = self.warmup_label.then_some(WARMUP_LABEL);
        let lines = self.lines.iter().map(|l| l.label.as_str());
        warmup
            .into_iter()
            .chain(lines)
            .chain(self.notes.iter().map(|n| n.0.as_str()))
            .chain(self.ticks.as_ref().map(|t| t.label))
    }
}

const WARMUP_LABEL: &str = "warm-up (discarded)";

/// Draws one time-series panel, keeping `legend_width` pixels on the right for its legend.
fn draw_panel(
    area: &Area,
    x: &Range<f64>,
    warmup_end: f64,
    legend_width: u32,
    p: Panel,
) -> anyhow::Result<()> {
    let (plot_area, legend_area) =
        area.split_horizontally(area.dim_in_pixel().0.saturating_sub(legend_width));
    let top = finite_max(p.lines.iter().flat_map(|l| l.points.iter().map(|pt| pt.1)));
    let y_max = axis_top(Some(top.unwrap_or(0.0).max(p.y_floor)), 1.12);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(8)
        .x_label_area_size(if p.x_desc.is_some() { 45 } else { 25 })
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), 0.0..y_max)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(p.y_desc)
        .y_labels(5)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15));
    if let Some(d) = p.x_desc {
        mesh.x_desc(d);
    }
    mesh.draw()?;
    let mut entries = Vec::new();
    if warmup_end > x.start {
        let shade = C_GREY.mix(0.18).filled();
        chart.draw_series([Rectangle::new(
            [(x.start, 0.0), (warmup_end.min(x.end), y_max)],
            shade,
        )])?;
        if p.warmup_label {
            entries.push((WARMUP_LABEL.to_string(), Swatch::Block(shade)));
        }
    }
    let mut drawn = false;
    for l in p.lines {
        if l.points.is_empty() {
            continue;
        }
        drawn = true;
        let style = l.colour.stroke_width(2);
        if l.dashed {
            chart.draw_series(DashedLineSeries::new(l.points, 10, 6, style))?;
            entries.push((l.label, Swatch::Dashed(l.colour)));
        } else {
            chart.draw_series(LineSeries::new(l.points, style))?;
            entries.push((l.label, Swatch::Solid(l.colour)));
        }
    }
    entries.extend(
        p.notes
            .into_iter()
            .map(|(label, c)| (label, Swatch::Dashed(c))),
    );
    if let Some(t) = p.ticks.filter(|t| !t.at.is_empty()) {
        let style = t.colour.stroke_width(2);
        let height = y_max * 0.2;
        chart.draw_series(
            t.at.iter()
                .map(|x| PathElement::new(vec![(*x, 0.0), (*x, height)], style)),
        )?;
        entries.push((t.label.to_string(), Swatch::Tick(t.colour)));
    }
    if !drawn {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let style = TextStyle::from((FONT, 18))
            .color(&C_GREY)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart.plotting_area().strip_coord_spec().draw_text(
            "no data",
            &style,
            (w as i32 / 2, h as i32 / 2),
        )?;
    }
    side_legend(&legend_area, &entries)
}

/// Three stacked panels over time (minutes in minutes, hours for long runs): instances
/// ready/starting with the max-instances bound and ticks where an instance crashed; CPU
/// utilisation with the scaling rule's CPU lines; in-flight and pending requests with the
/// rule's concurrency target when it scales on concurrency. The warm-up is shaded.
pub fn instances_cpu(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let rows = &out.timeseries;
    render(path, "Instances, CPU and requests over time", |area| {
        let times = || rows.iter().map(|r| r.time_s).filter(|t| t.is_finite());
        let (Some(t0), Some(t1)) = (times().reduce(f64::min), times().reduce(f64::max)) else {
            return no_data(area, "empty time series");
        };
        let unit = TimeUnit::for_span(t1 - t0);
        let (x0, x1) = (t0 / unit.seconds, t1 / unit.seconds);
        let x = x0..if x1 > x0 { x1 } else { x0 + 1.0 };
        let warmup_end = out.summary.warmup_s / unit.seconds;
        let warmup_end = if warmup_end.is_finite() {
            warmup_end
        } else {
            0.0
        };
        let series = (rows.as_slice(), unit);
        let instances = vec![
            Line::column("ready", C_BLUE, series, 1.0, |r| r.instances_ready),
            Line::column("starting", C_ORANGE, series, 1.0, |r| r.instances_starting),
        ];
        let peak = finite_max(instances.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
        let cap = f64::from(out.scaling.max_instances);
        let mut notes = Vec::new();
        let mut instances = instances;
        if cap > 0.0 {
            let label = format!("max instances {}", out.scaling.max_instances);
            // A bound far above the data would squash the lines: list it in the legend only.
            if peak.is_some_and(|p| p > 0.0 && cap > 3.0 * p) {
                notes.push((format!("{label} (off scale)"), C_RED));
            } else {
                instances.push(Line::level(label, C_RED, cap, &x));
            }
        }
        let crashes = Ticks {
            label: "instance crash",
            colour: C_BROWN,
            at: crash_times(rows).iter().map(|t| t / unit.seconds).collect(),
        };
        let mut cpu = vec![Line::column(
            "CPU utilisation",
            C_GREEN,
            series,
            100.0,
            |r| r.cpu_utilization,
        )];
        for (i, (level, label)) in out.scaling.cpu.iter().enumerate() {
            if level.is_finite() {
                let colour = RULE_COLOURS[i % RULE_COLOURS.len()];
                cpu.push(Line::level(label.clone(), colour, level * 100.0, &x));
            }
        }
        let mut requests = vec![
            Line::column("in flight", C_PURPLE, series, 1.0, |r| r.in_flight),
            Line::column("pending", C_RED, series, 1.0, |r| r.pending),
        ];
        let max_concurrency = out.summary.inputs.max_concurrency;
        if let Some(target) = out.scaling.concurrency_target.filter(|t| t.is_finite()) {
            requests.push(concurrency_line(series, target, max_concurrency));
        }
        let panels = [
            Panel {
                y_desc: "instances",
                x_desc: None,
                lines: instances,
                y_floor: 1.0,
                notes,
                warmup_label: true,
                ticks: Some(crashes),
            },
            Panel {
                y_desc: "CPU (%)",
                x_desc: None,
                lines: cpu,
                y_floor: 100.0 / 1.12,
                notes: Vec::new(),
                warmup_label: false,
                ticks: None,
            },
            Panel {
                y_desc: "requests",
                x_desc: Some(unit.x_desc),
                lines: requests,
                y_floor: 1.0,
                notes: Vec::new(),
                warmup_label: false,
                ticks: None,
            },
        ];
        stacked_panels(area, &x, warmup_end, panels)
    })
}

/// Draws `panels` stacked over one time axis `x`, with one legend width for all of them so
/// their x axes line up.
pub(super) fn stacked_panels<const N: usize>(
    area: &Area,
    x: &Range<f64>,
    warmup_end: f64,
    panels: [Panel; N],
) -> anyhow::Result<()> {
    let text = legend_text();
    let mut widest = 0;
    for label in panels.iter().flat_map(Panel::labels) {
        widest = widest.max(area.estimate_text_size(label, &text)?.0);
    }
    let legend_width = (widest + LEGEND_TEXT_X.unsigned_abs() + 16)
        .clamp(PANEL_LEGEND_WIDTH.start, PANEL_LEGEND_WIDTH.end);
    for (cell, panel) in area.split_evenly((N, 1)).iter().zip(panels) {
        draw_panel(cell, x, warmup_end, legend_width, panel)?;
    }
    Ok(())
}

/// Draws the legend box.
pub(super) fn legend<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, Canvas<'b>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(C_GREY)
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

/// Draws 95 % interval whiskers along horizontal bars, each a line between its two ends, with
/// one "95 % CI" legend entry; nothing when there are none.
fn draw_whiskers<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, Canvas<'b>, Cartesian2d<X, Y>>,
    whiskers: impl Iterator<Item = [(X::ValueType, Y::ValueType); 2]>,
) -> anyhow::Result<()>
where
    X::ValueType: Clone + 'a,
    Y::ValueType: Clone + 'a,
{
    let style = C_DARK.stroke_width(2);
    let lines: Vec<_> = whiskers
        .map(|ends| PathElement::new(ends.to_vec(), style))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(lines)?
        .label("95 % CI")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    Ok(())
}

/// The 95 % interval as drawable bounds (clamped at zero), when it is finite.
pub(super) fn ci_bounds(e: &Estimate) -> Option<(f64, f64)> {
    let [lo, hi] = e.ci95;
    (lo.is_finite() && hi.is_finite()).then(|| (lo.max(0.0), hi.max(0.0)))
}

/// A small value label anchored at a data point.
pub(super) fn bar_label<C>(text: String, at: C, pos: Pos) -> Text<'static, C, String> {
    Text::new(
        text,
        at,
        TextStyle::from((FONT, 13)).color(&C_DARK).pos(pos),
    )
}

/// Category axis: `n` slots with a tick (and label) in the middle of each.
pub(super) fn categories(n: usize) -> WithKeyPoints<RangedCoordi32> {
    let n = i32::try_from(n)
        .unwrap_or(i32::MAX / SLOT)
        .min(i32::MAX / SLOT);
    (0..n * SLOT).with_key_points((0..n).map(|i| i * SLOT + SLOT / 2).collect())
}

/// The category name for a tick.
pub(super) fn category_name(names: &[&str], v: i32) -> String {
    usize::try_from(v.div_euclid(SLOT))
        .ok()
        .and_then(|i| names.get(i))
        .map_or_else(String::new, |s| s.to_string())
}

/// The right end of a bar axis that leaves room past each bar for its label: a bar ending at
/// `end` (data units) with a label `label_px` wide, on a plot `plot_px` wide. Zero when no bar
/// has a positive end.
fn axis_with_labels(ends: &[(f64, u32)], plot_px: u32) -> f64 {
    let plot = f64::from(plot_px);
    ends.iter()
        .filter(|e| e.0.is_finite() && e.0 > 0.0)
        .map(|&(end, label)| end * plot / (plot - f64::from(label) - 14.0).max(plot * 0.3))
        .fold(0.0, f64::max)
}

/// Where a value label sits past the end of a horizontal bar: left-aligned, centred on it.
fn after_bar() -> Pos {
    Pos::new(HPos::Left, VPos::Center)
}

/// The right end of an estimate's drawing: its interval's upper end, or the value.
fn drawn_end(e: &Estimate) -> f64 {
    ci_bounds(e)
        .map_or(e.value, |(_, hi)| hi.max(e.value))
        .max(0.0)
}

/// A turn-time component in words.
pub(super) fn component_label(c: TurnComponent) -> &'static str {
    match c {
        TurnComponent::Pending => "waiting for a slot",
        TurnComponent::Cpu => "CPU",
        TurnComponent::CpuContention => "CPU contention",
        TurnComponent::Llm => "LLM calls",
        TurnComponent::RetryBackoff => "retry backoff",
        TurnComponent::Datastore => "datastore",
    }
}

/// The label of the breakdown's total row.
const TURN_TOTAL: &str = "turn (total)";

/// Width of the y-axis label area of a horizontal bar chart with these category names.
fn name_area(area: &Area, names: &[&str]) -> anyhow::Result<u32> {
    let style = TextStyle::from((FONT, 15));
    let mut widest = 0;
    for name in names {
        widest = widest.max(area.estimate_text_size(name, &style)?.0);
    }
    Ok((widest + 24).clamp(90, 320))
}

/// The right end of the value axis of a horizontal bar chart with these category names, whose
/// bars end at the given values and carry the given labels past their ends.
fn bar_axis_end(
    area: &Area,
    names: &[&str],
    labelled: &[(f64, String)],
    top: Option<f64>,
) -> anyhow::Result<f64> {
    let text = TextStyle::from((FONT, 13));
    let mut ends = Vec::with_capacity(labelled.len());
    for (end, label) in labelled {
        ends.push((*end, area.estimate_text_size(label, &text)?.0));
    }
    let plot_px = area
        .dim_in_pixel()
        .0
        .saturating_sub(name_area(area, names)? + 24);
    Ok(axis_with_labels(&ends, plot_px).max(axis_top(top, 1.05)))
}

/// The chart of a horizontal bar chart: one category per name (the first at the bottom), the
/// value axis from 0 to `x_max` with its ticks and description.
fn horizontal_bars<'a, 'b>(
    area: &'a Area<'b>,
    names: &[&str],
    x_max: f64,
    x_ticks: &dyn Fn(&f64) -> String,
    x_desc: &str,
) -> anyhow::Result<BarChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(name_area(area, names)?)
        .build_cartesian_2d(0.0..x_max, categories(names.len()))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_label_formatter(&|v| category_name(names, *v))
        .x_label_formatter(x_ticks)
        .x_desc(x_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    Ok(chart)
}

/// A horizontal bar chart: values along x, categories up y.
type BarChart<'a, 'b> =
    ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, WithKeyPoints<RangedCoordi32>>>;

/// Horizontal bars per latency component, mean and p95 seconds per turn with 95 % intervals,
/// the first component on top and the turn's own mean and p95 at the bottom; each value
/// written past its whisker, the legend beside the plot.
pub fn latency_breakdown(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let turn = &out.summary.turn_latency_s;
    let components = &out.summary.latency_breakdown_s;
    // Bottom up: the total, then the components from the last to the first.
    let rows: Vec<(&str, [Estimate; 2])> = std::iter::once((TURN_TOTAL, [turn.mean, turn.p95]))
        .chain(
            components
                .iter()
                .rev()
                .map(|r| (component_label(r.component), [r.mean, r.p95])),
        )
        .collect();
    render(
        path,
        "Where turn time goes: seconds per turn by component",
        |area| {
            let top = finite_max(rows.iter().flat_map(|r| r.1.iter().map(drawn_end)));
            if components.is_empty() || !top.is_some_and(|t| t > 0.0) {
                return no_data(area, "empty latency breakdown");
            }
            let legend_px = 130;
            let (plot_area, legend_area) =
                area.split_horizontally(area.dim_in_pixel().0.saturating_sub(legend_px));
            let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let mut labelled = Vec::new();
            for (_, estimates) in &rows {
                for e in estimates.iter().filter(|e| e.value.is_finite()) {
                    labelled.push((drawn_end(e), secs(e.value)));
                }
            }
            let x_max = bar_axis_end(&plot_area, &names, &labelled, top)?;
            let mut chart =
                horizontal_bars(&plot_area, &names, x_max, &tick, "seconds per turn (s)")?;
            // Each bar: which estimate, its bottom and top edge within the slot, colour.
            let bars: [(usize, i32, i32, RGBColor); 2] =
                [(0, 52, 88, C_BLUE), (1, 12, 48, C_ORANGE)];
            let slots = || (0..).step_by(SLOT as usize).zip(rows.iter());
            for (i, low, high, colour) in bars {
                chart.draw_series(slots().filter_map(|(y, r)| {
                    let v = r.1[i].value;
                    v.is_finite().then(|| {
                        Rectangle::new([(0.0, y + low), (v.max(0.0), y + high)], colour.filled())
                    })
                }))?;
            }
            // The total is not a component: a dashed rule sets it apart.
            chart.draw_series(DashedLineSeries::new(
                vec![(0.0, SLOT), (x_max, SLOT)],
                6,
                4,
                C_GREY.stroke_width(1),
            ))?;
            let whiskers = slots().flat_map(|(y, r)| {
                bars.iter().filter_map(move |&(i, low, high, _)| {
                    let (lo, hi) = ci_bounds(&r.1[i])?;
                    let mid = y + (low + high) / 2;
                    Some([(lo, mid), (hi, mid)])
                })
            });
            draw_whiskers(&mut chart, whiskers)?;
            let values = slots().flat_map(|(y, r)| {
                bars.iter().filter_map(move |&(i, low, high, _)| {
                    let e = &r.1[i];
                    e.value
                        .is_finite()
                        .then(|| ((drawn_end(e), y + (low + high) / 2), secs(e.value)))
                })
            });
            draw_labels(&mut chart, values.collect(), false, (6, 0), after_bar())?;
            side_legend(
                &legend_area,
                &[
                    ("mean".to_string(), Swatch::Block(C_BLUE.filled())),
                    ("p95".to_string(), Swatch::Block(C_ORANGE.filled())),
                    ("95 % CI".to_string(), Swatch::Solid(C_DARK)),
                ],
            )
        },
    )
}

/// A cost component in words (`llm_output` is `LLM output tokens`); a name this table does not
/// know is shown as written, underscores as spaces.
pub(super) fn cost_label(name: &str) -> String {
    let known = match name {
        "cloud_run_cpu" => "Cloud Run vCPU",
        "cloud_run_memory" => "Cloud Run memory",
        "cloud_run_idle" => "Cloud Run idle min instances",
        "cloud_run_requests" => "Cloud Run requests",
        "llm_input" => "LLM input tokens",
        "llm_output" => "LLM output tokens",
        "firestore_reads" => "Firestore reads",
        "firestore_writes" => "Firestore writes",
        "firestore_deletes" => "Firestore deletes",
        other => return other.replace('_', " "),
    };
    known.to_string()
}

/// A cost bar's label: per month, per session (the component's share of the session's cost)
/// when sessions started, and the share of the total.
fn cost_bar_label(per_day: f64, share: f64, per_session: Option<f64>) -> String {
    let session = per_session
        .filter(|s| s.is_finite())
        .map(|s| format!(" · {}/session", money(s * share)))
        .unwrap_or_default();
    format!(
        "{}/month{session} · {}",
        money(per_day * DAYS_PER_MONTH),
        pct(share)
    )
}

/// The cost chart's title: the total per month, per day and per session.
fn cost_title(per_day: f64, per_session: Option<f64>) -> String {
    let session = per_session
        .filter(|s| s.is_finite())
        .map(|s| format!(" · {}/session", money(s)))
        .unwrap_or_default();
    format!(
        "Cost by component: {}/month · {}/day{session}",
        money(per_day * DAYS_PER_MONTH),
        money(per_day)
    )
}

/// Horizontal bars of dollars per month by cost component, largest on top, each labelled with
/// its dollars per month and per session and its share; the totals in the title.
pub fn cost_breakdown(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let cost = &out.summary.cost_usd;
    let per_session = cost.per_session.map(|e| e.value);
    let mut rows: Vec<_> = cost
        .breakdown
        .iter()
        .filter(|r| r.per_day.value.is_finite())
        .collect();
    // Ascending, so the largest lands at the top of the y axis.
    rows.sort_by(|a, b| a.per_day.value.total_cmp(&b.per_day.value));
    let title = cost_title(cost.per_day.value, per_session);
    let monthly = |e: &Estimate| e.scaled(DAYS_PER_MONTH);
    render(path, &title, |area| {
        let top = finite_max(rows.iter().map(|r| drawn_end(&monthly(&r.per_day))));
        if rows.is_empty() || !top.is_some_and(|t| t > 0.0) {
            return no_data(area, "no cost components");
        }
        let names: Vec<String> = rows.iter().map(|r| cost_label(&r.component)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let labels: Vec<String> = rows
            .iter()
            .map(|r| cost_bar_label(r.per_day.value, r.share, per_session))
            .collect();
        let labelled: Vec<(f64, String)> = rows
            .iter()
            .zip(&labels)
            .map(|(r, l)| (drawn_end(&monthly(&r.per_day)), l.clone()))
            .collect();
        let x_max = bar_axis_end(area, &names, &labelled, top)?;
        let x_desc = "US dollars per month (a month is 365.25 / 12 days)";
        let mut chart = horizontal_bars(area, &names, x_max, &money_tick, x_desc)?;
        let slots = || (0..).step_by(SLOT as usize).zip(rows.iter());
        chart
            .draw_series(slots().map(|(y, r)| {
                Rectangle::new(
                    [(0.0, y + 15), (monthly(&r.per_day).value.max(0.0), y + 85)],
                    C_GREEN.filled(),
                )
            }))?
            .label("dollars per month")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], C_GREEN.filled()));
        let whiskers = slots().filter_map(|(y, r)| {
            let (lo, hi) = ci_bounds(&monthly(&r.per_day))?;
            let mid = y + SLOT / 2;
            Some([(lo, mid), (hi, mid)])
        });
        draw_whiskers(&mut chart, whiskers)?;
        let values = slots()
            .zip(labels)
            .map(|((y, r), label)| ((drawn_end(&monthly(&r.per_day)), y + SLOT / 2), label));
        draw_labels(&mut chart, values.collect(), false, (6, 0), after_bar())?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::sample_output;

    /// What a chart's pixels show: how much is drawn and where a colour lies.
    struct Picture(image::RgbImage);

    impl Picture {
        /// Decodes the PNG at `path` (which must be one, of the chart width and at least the
        /// chart height: the over-time view is taller).
        fn open(path: &Path) -> Picture {
            let bytes = std::fs::read(path).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{} is not a PNG",
                path.display()
            );
            let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
            let (width, height) = img.dimensions();
            assert!(
                width == SIZE.0 && height >= SIZE.1,
                "{}: {width}x{height}",
                path.display()
            );
            Picture(img)
        }

        /// Share of the pixels that are not white.
        fn inked(&self) -> f64 {
            let ink = self.0.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            ink as f64 / f64::from(SIZE.0 * SIZE.1)
        }

        /// Pixels of exactly `colour`, and the share of the width and height they span.
        fn coverage(&self, colour: RGBColor) -> (usize, f64, f64) {
            let want = [colour.0, colour.1, colour.2];
            let (mut n, mut x0, mut x1, mut y0, mut y1) = (0, u32::MAX, 0, u32::MAX, 0);
            for (x, y, p) in self.0.enumerate_pixels() {
                if p.0 == want {
                    n += 1;
                    (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
                }
            }
            if n == 0 {
                return (0, 0.0, 0.0);
            }
            let span = |a: u32, b: u32, of: u32| f64::from(b - a + 1) / f64::from(of);
            (n, span(x0, x1, SIZE.0), span(y0, y1, SIZE.1))
        }
    }

    fn assert_png(path: &Path) {
        let picture = Picture::open(path);
        assert!(picture.inked() > 0.005, "{} is blank", path.display());
    }

    #[test]
    fn charts_draw_their_series_over_the_plot_area() {
        let dir = tempfile::tempdir().unwrap();
        let out = sample_output();
        let draw = |name: &str, chart: DrawFn| {
            let path = dir.path().join(name);
            chart(&out, &path).unwrap();
            Picture::open(&path)
        };
        // CDF: both curves rise across most of the plot, left to right and bottom to top.
        let cdf = draw("cdf.png", latency_cdf);
        for colour in [C_BLUE, C_ORANGE] {
            let (n, wide, high) = cdf.coverage(colour);
            assert!(n > 500 && high > 0.5, "cdf curve: {n} px, {high:.2} high");
            assert!(wide > 0.1, "cdf curve: {wide:.2} wide");
        }
        assert!(
            cdf.coverage(C_BLUE).1 > 0.5,
            "the turn curve spans the x axis"
        );
        // Time series: the ready-instance and CPU lines run along the whole time axis.
        let series = draw("inst.png", instances_cpu);
        for colour in [C_BLUE, C_GREEN, C_PURPLE] {
            let (n, wide, _) = series.coverage(colour);
            assert!(n > 300 && wide > 0.6, "series line: {n} px, {wide:.2} wide");
        }
        // Breakdown: filled mean and p95 bars, the LLM's the tallest.
        let breakdown = draw("breakdown.png", latency_breakdown);
        for colour in [C_BLUE, C_ORANGE] {
            let (n, wide, high) = breakdown.coverage(colour);
            assert!(n > 5_000 && wide > 0.4 && high > 0.4, "bars: {n} px");
        }
        // Cost: one filled bar per component, the largest spanning most of the width.
        let cost = draw("cost.png", cost_breakdown);
        let (n, wide, high) = cost.coverage(C_GREEN);
        assert!(n > 20_000 && wide > 0.5 && high > 0.5, "cost bars: {n} px");
    }

    #[test]
    fn empty_and_nan_data_still_give_charts() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = sample_output();
        out.histogram.clear();
        out.timeseries.clear();
        out.summary.latency_breakdown_s.clear();
        out.summary.cost_usd.breakdown.clear();
        out.summary.cost_usd.per_day.value = f64::NAN;
        for (name, chart) in crate::report::files::CHARTS {
            let path = dir.path().join(name);
            chart(&out, &path).unwrap();
            assert_png(&path);
            // No data: the note is drawn, no series is.
            let picture = Picture::open(&path);
            for colour in [C_BLUE, C_ORANGE, C_GREEN] {
                assert_eq!(picture.coverage(colour).0, 0, "{name}");
            }
        }

        let mut out = sample_output();
        for r in &mut out.timeseries {
            r.cpu_utilization = f64::NAN;
        }
        for r in &mut out.summary.latency_breakdown_s {
            r.p95.value = f64::NAN;
            r.mean.ci95 = [f64::NAN, f64::NAN];
        }
        for r in &mut out.histogram {
            if r.metric == MeasuredRequest::SessionStart {
                r.cdf = f64::NAN;
            }
        }
        out.scaling.max_instances = 500;
        out.summary.slo.checks[0].target = 1000.0;
        for (name, chart) in crate::report::files::CHARTS {
            let path = dir.path().join(name);
            chart(&out, &path).unwrap();
            assert_png(&path);
        }
    }

    #[test]
    fn unwritable_path_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("cdf.png");
        assert!(latency_cdf(&sample_output(), &path).is_err());
    }

    #[test]
    fn clip_interpolates_the_last_point() {
        let pts = [(0.0, 0.0), (1.0, 50.0), (3.0, 100.0)];
        assert_eq!(
            clip_x(&pts, 2.0),
            vec![(0.0, 0.0), (1.0, 50.0), (2.0, 75.0)]
        );
        assert_eq!(x_at_percent(&pts, 99.9), Some(3.0));
        assert_eq!(x_at_percent(&pts, 40.0), Some(1.0));
    }

    /// The rows of `picture` in which `colour` appears, as shares of the height.
    fn rows_with(picture: &Picture, colour: RGBColor) -> Option<(f64, f64)> {
        let want = [colour.0, colour.1, colour.2];
        let ys: Vec<u32> = picture
            .0
            .enumerate_pixels()
            .filter(|p| p.2.0 == want)
            .map(|p| p.1)
            .collect();
        let h = f64::from(SIZE.1);
        Some((
            f64::from(*ys.iter().min()?) / h,
            f64::from(*ys.iter().max()?) / h,
        ))
    }

    #[test]
    fn the_cdf_marks_the_turn_percentiles_in_both_panels() {
        let out = sample_output();
        let marks = percentile_marks(&out.summary.turn_latency_s);
        let t = &out.summary.turn_latency_s;
        assert_eq!(
            marks,
            vec![
                ("p50", 50.0, t.p50.value),
                ("p95", 95.0, t.p95.value),
                ("p99", 99.0, t.p99.value)
            ]
        );
        assert_eq!(mark_label("p95", 11.62), "p95 11.6 s");
        assert_eq!(mark_label("p50", 0.8504), "p50 850 ms");
        let mut nan = out.summary.turn_latency_s.clone();
        nan.p99.value = f64::NAN;
        assert_eq!(percentile_marks(&nan).len(), 2);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdf.png");
        latency_cdf(&out, &path).unwrap();
        let picture = Picture::open(&path);
        // The dots (filled, exactly C_DARK) in the left and in the right panel.
        let dark = [C_DARK.0, C_DARK.1, C_DARK.2];
        let dots = |from: u32, to: u32| {
            picture
                .0
                .enumerate_pixels()
                .filter(|p| (from..to).contains(&p.0) && p.1 > 60 && p.1 < 540 && p.2.0 == dark)
                .count()
        };
        assert!(
            dots(90, 540) > 150,
            "left panel: {} dot pixels",
            dots(90, 540)
        );
        assert!(
            dots(640, 1000) > 150,
            "tail panel: {} dot pixels",
            dots(640, 1000)
        );
    }

    #[test]
    fn the_tail_is_the_share_slower_on_a_power_of_ten_floor() {
        let pts = [(0.0, 0.0), (1.0, 90.0), (2.0, 99.95), (3.0, 100.0)];
        let tail = exceedance(&pts);
        assert_eq!(
            tail.len(),
            3,
            "the point with none slower is dropped: {tail:?}"
        );
        assert_eq!(tail[0], (0.0, 100.0));
        assert!((tail[1].1 - 10.0).abs() < 1e-9 && (tail[2].1 - 0.05).abs() < 1e-9);
        assert!((tail_floor(&[&tail]) - 0.01).abs() < 1e-12);
        assert_eq!(tail_floor(&[&[]]), 1.0);
        assert_eq!(percent_tick(&0.1), "0.1 %");
    }

    #[test]
    fn the_time_axis_reads_minutes_for_hours_long_runs_then_hours() {
        let minutes = TimeUnit::for_span(40.0 * 60.0);
        assert_eq!(minutes.seconds, 60.0);
        assert_eq!(minutes.x_desc, "simulated time (min)");
        assert_eq!(TimeUnit::for_span(2.0 * 3600.0), minutes);
        let hours = TimeUnit::for_span(24.0 * 3600.0);
        assert_eq!(hours.seconds, 3600.0);
        assert_eq!(hours.x_desc, "simulated time (h)");
    }

    #[test]
    fn crashes_and_the_concurrency_target_come_from_the_rows() {
        let mut out = sample_output();
        out.timeseries[3].instance_crashes = 0.1;
        out.timeseries[7].instance_crashes = 2.0;
        let at = [out.timeseries[3].time_s, out.timeseries[7].time_s];
        assert_eq!(crash_times(&out.timeseries), at);

        let unit = TimeUnit::for_span(3600.0);
        let line = concurrency_line((&out.timeseries, unit), 0.6, 20);
        assert_eq!(line.label, "concurrency target (12 per ready instance)");
        assert!(line.dashed);
        for (p, r) in line.points.iter().zip(&out.timeseries) {
            assert_eq!(*p, (r.time_s / 60.0, r.instances_ready * 12.0));
        }

        // Drawn: crash ticks in the instances panel (top third), the target in the requests
        // panel (bottom third); neither without crashes or a concurrency rule.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inst.png");
        instances_cpu(&out, &path).unwrap();
        let picture = Picture::open(&path);
        let (top, bottom) = rows_with(&picture, C_BROWN).expect("crash ticks");
        assert!(
            top > 0.05 && bottom < 0.36,
            "crash ticks from {top:.2} to {bottom:.2}"
        );
        let (top, bottom) = rows_with(&picture, C_PINK).expect("concurrency target");
        assert!(
            top > 0.66 && bottom < 0.95,
            "target from {top:.2} to {bottom:.2}"
        );

        let mut plain = sample_output();
        plain.scaling.concurrency_target = None;
        instances_cpu(&plain, &path).unwrap();
        let picture = Picture::open(&path);
        assert_eq!(picture.coverage(C_BROWN).0, 0);
        assert_eq!(picture.coverage(C_PINK).0, 0);
    }

    #[test]
    fn components_and_costs_are_named_in_words() {
        let labels: Vec<&str> = TurnComponent::ALL.map(component_label).to_vec();
        assert!(labels.iter().all(|l| !l.contains('_')), "{labels:?}");
        for (i, l) in labels.iter().enumerate() {
            assert!(!labels[..i].contains(l), "{l} twice");
        }
        for name in crate::system::cost::COST_NAMES {
            let label = cost_label(name);
            assert_ne!(label, name.replace('_', " "), "{name} has no plain label");
            assert!(!label.contains('_'));
        }
        assert_eq!(cost_label("llm_output"), "LLM output tokens");
        assert_eq!(cost_label("cloud_run_cpu"), "Cloud Run vCPU");
        assert_eq!(cost_label("gpu_hours"), "gpu hours");
    }

    #[test]
    fn cost_labels_give_month_session_and_share() {
        // The phase2 figures: $28.19 a day, 69.2 % of $0.0023 a session.
        assert_eq!(
            cost_bar_label(28.19, 0.692, Some(0.0023)),
            "$858.03/month · $0.0016/session · 69.2 %"
        );
        assert_eq!(cost_bar_label(2.07, 0.051, None), "$63.01/month · 5.1 %");
        assert_eq!(
            cost_title(40.72, Some(0.0023)),
            "Cost by component: $1,239/month · $40.72/day · $0.0023/session"
        );
        assert_eq!(
            cost_title(40.72, Some(f64::NAN)),
            "Cost by component: $1,239/month · $40.72/day"
        );
        assert!((DAYS_PER_MONTH - 30.4375).abs() < 1e-12);
    }

    #[test]
    fn bar_axes_leave_room_for_the_labels() {
        // A bar at 10 with a 100 px label on a 500 px plot: 10 must sit at 500 - 114 px.
        let end = axis_with_labels(&[(10.0, 100), (2.0, 40)], 500);
        assert!((end - 10.0 * 500.0 / 386.0).abs() < 1e-9, "{end}");
        assert_eq!(axis_with_labels(&[(f64::NAN, 10), (0.0, 10)], 500), 0.0);
        // A label wider than the plot still leaves the bars 30 % of it.
        assert!((axis_with_labels(&[(1.0, 900)], 500) - 1.0 / 0.3).abs() < 1e-9);
    }

    #[test]
    fn the_breakdown_has_a_total_row_and_its_legend_outside_the_bars() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("breakdown.png");
        let out = sample_output();
        latency_breakdown(&out, &path).unwrap();
        let picture = Picture::open(&path);
        // The legend's swatches sit right of every bar: the bars end before x = 870.
        let blue = [C_BLUE.0, C_BLUE.1, C_BLUE.2];
        let right: Vec<u32> = picture
            .0
            .enumerate_pixels()
            .filter(|p| p.2.0 == blue)
            .map(|p| p.0)
            .collect();
        let legend = right.iter().filter(|x| **x >= 870).count();
        assert!(
            legend > 100 && legend < 600,
            "{legend} legend swatch pixels"
        );
        // The total row (the turn's mean, the widest blue bar) is the lowest bar.
        let (_, bottom) = rows_with(&picture, C_BLUE).unwrap();
        assert!(bottom > 0.8, "lowest blue at {bottom:.2}");
    }
}
