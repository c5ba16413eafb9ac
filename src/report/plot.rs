//! The PNG charts: 1000x600, white background, a title, labelled axes and a legend each. Text
//! uses the embedded DejaVu Sans font (no system fonts). Empty or NaN data never panics: the
//! series is skipped and a chart with nothing left to draw says "no data".

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordi32;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::format::{money, money_tick, pct, secs, tick};
use crate::results::{BreakdownRow, MeasuredRequest, RunOutput, TimeSeriesRow};
use crate::stats::Estimate;

pub(super) const SIZE: (u32, u32) = (1000, 600);
pub(super) const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(super) const C_BLUE: RGBColor = RGBColor(31, 119, 180);
pub(super) const C_ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(super) const C_GREEN: RGBColor = RGBColor(44, 160, 44);
pub(super) const C_RED: RGBColor = RGBColor(214, 39, 40);
pub(super) const C_PURPLE: RGBColor = RGBColor(148, 103, 189);
pub(super) const C_BROWN: RGBColor = RGBColor(140, 86, 75);
pub(super) const C_GREY: RGBColor = RGBColor(127, 127, 127);
pub(super) const C_DARK: RGBColor = RGBColor(50, 50, 50);
/// Colours for the scaling rule's CPU lines, in turn.
const RULE_COLOURS: [RGBColor; 3] = [C_RED, C_PURPLE, C_BROWN];

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
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
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
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

/// CDF of turn and session-start latency, x capped at the turn p99.9, with the `turn_p95` SLO
/// bound as a dashed vertical line.
pub fn latency_cdf(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let turn = cdf_points(out, MeasuredRequest::Turn);
    let start = cdf_points(out, MeasuredRequest::SessionStart);
    let slo = out
        .summary
        .slo
        .checks
        .iter()
        .find(|c| c.name == "turn_p95")
        .map(|c| c.target)
        .filter(|t| t.is_finite() && *t > 0.0);
    render(path, "Latency distribution (CDF)", |area| {
        let body = x_at_percent(&turn, 99.9).or_else(|| x_at_percent(&start, 99.9));
        let Some(body) = body.filter(|b| *b > 0.0) else {
            return no_data(area, "no latency histogram");
        };
        // Widen the axis to show the SLO bound unless that would squash the curves.
        let slo_on_scale = slo.filter(|t| *t <= 3.0 * body);
        let x_max = body.max(slo_on_scale.unwrap_or(0.0)) * 1.05;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
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
        let curves = [
            (MeasuredRequest::Turn.label(), &turn, C_BLUE),
            (MeasuredRequest::SessionStart.label(), &start, C_ORANGE),
        ];
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
        let slo_legend = move |(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, C_RED.stroke_width(2))
        };
        match (slo, slo_on_scale) {
            (Some(t), Some(_)) => {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(t, 0.0), (t, 100.0)],
                        10,
                        6,
                        C_RED.stroke_width(2),
                    ))?
                    .label(format!("SLO p95 ≤ {}", secs(t)))
                    .legend(slo_legend);
            }
            (Some(t), None) => {
                chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                    .label(format!("SLO p95 ≤ {} (off scale)", secs(t)))
                    .legend(slo_legend);
            }
            _ => {}
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
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
    /// A solid line from a time-series column (x in minutes, y scaled), NaN points dropped.
    fn column(
        label: &str,
        colour: RGBColor,
        rows: &[TimeSeriesRow],
        scale: f64,
        col: impl Fn(&TimeSeriesRow) -> f64,
    ) -> Self {
        let points = rows
            .iter()
            .map(|r| (r.time_s / 60.0, col(r) * scale))
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
}

/// What a legend entry shows beside its label.
enum Swatch {
    Solid(RGBColor),
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

/// Three stacked panels over time (minutes): instances ready/starting with the max-instances
/// bound; CPU utilisation with the scaling rule's CPU lines; in-flight and pending requests.
/// The warm-up is shaded.
pub fn instances_cpu(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let rows = &out.timeseries;
    render(path, "Instances, CPU and requests over time", |area| {
        let times = || {
            rows.iter()
                .map(|r| r.time_s / 60.0)
                .filter(|t| t.is_finite())
        };
        let (Some(x0), Some(x1)) = (times().reduce(f64::min), times().reduce(f64::max)) else {
            return no_data(area, "empty time series");
        };
        let x = x0..if x1 > x0 { x1 } else { x0 + 1.0 };
        let warmup_end = out.summary.warmup_s / 60.0;
        let warmup_end = if warmup_end.is_finite() {
            warmup_end
        } else {
            0.0
        };
        let instances = vec![
            Line::column("ready", C_BLUE, rows, 1.0, |r| r.instances_ready),
            Line::column("starting", C_ORANGE, rows, 1.0, |r| r.instances_starting),
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
        let mut cpu = vec![Line::column("CPU utilisation", C_GREEN, rows, 100.0, |r| {
            r.cpu_utilization
        })];
        for (i, (level, label)) in out.scaling.cpu.iter().enumerate() {
            if level.is_finite() {
                let colour = RULE_COLOURS[i % RULE_COLOURS.len()];
                cpu.push(Line::level(label.clone(), colour, level * 100.0, &x));
            }
        }
        let requests = vec![
            Line::column("in flight", C_PURPLE, rows, 1.0, |r| r.in_flight),
            Line::column("pending", C_RED, rows, 1.0, |r| r.pending),
        ];
        let panels = [
            Panel {
                y_desc: "instances",
                x_desc: None,
                lines: instances,
                y_floor: 1.0,
                notes,
                warmup_label: true,
            },
            Panel {
                y_desc: "CPU (%)",
                x_desc: None,
                lines: cpu,
                y_floor: 100.0 / 1.12,
                notes: Vec::new(),
                warmup_label: false,
            },
            Panel {
                y_desc: "requests",
                x_desc: Some("simulated time (min)"),
                lines: requests,
                y_floor: 1.0,
                notes: Vec::new(),
                warmup_label: false,
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
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
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

/// Which way a chart's 95 % interval whiskers run.
#[derive(Clone, Copy)]
enum Direction {
    /// Up a vertical bar.
    Vertical,
    /// Along a horizontal bar.
    Horizontal,
}

/// Draws 95 % interval whiskers, each a line between its two ends, with one "95 % CI" legend
/// entry drawn the same way round; nothing when there are none.
fn draw_whiskers<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
    whiskers: impl Iterator<Item = [(X::ValueType, Y::ValueType); 2]>,
    direction: Direction,
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
        .legend(move |(x, y)| match direction {
            Direction::Vertical => PathElement::new(vec![(x + 12, y - 7), (x + 12, y + 7)], style),
            Direction::Horizontal => PathElement::new(vec![(x, y), (x + 24, y)], style),
        });
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

/// Grouped bars per latency component: mean and p95 seconds per turn, with 95 % intervals.
pub fn latency_breakdown(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let rows = &out.summary.latency_breakdown_s;
    render(path, "Where turn time goes: latency by component", |area| {
        let top = finite_max(
            rows.iter()
                .flat_map(|r| [r.mean.value, r.p95.value, r.mean.ci95[1], r.p95.ci95[1]]),
        );
        if rows.is_empty() || !top.is_some_and(|t| t > 0.0) {
            return no_data(area, "empty latency breakdown");
        }
        let names: Vec<&str> = rows.iter().map(|r| r.component.label()).collect();
        let y_max = axis_top(top, 1.15);
        // Gap between a bar (or its whisker) and its value label.
        let lift = y_max * 0.01;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(categories(rows.len()), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| category_name(&names, *v))
            .x_desc("pipeline component")
            .y_desc("seconds per turn (s)")
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        // Each bar: which estimate, its left and right edge within the slot, colour, label.
        type Pick = fn(&BreakdownRow) -> Estimate;
        let bars: [(Pick, i32, i32, RGBColor, &str); 2] = [
            (|r| r.mean, 12, 49, C_BLUE, "mean"),
            (|r| r.p95, 51, 88, C_ORANGE, "p95"),
        ];
        let slots = || (0..).step_by(SLOT as usize).zip(rows.iter());
        for (pick, left, right, colour, label) in bars {
            chart
                .draw_series(slots().filter_map(|(x, r)| {
                    let v = pick(r).value;
                    v.is_finite().then(|| {
                        Rectangle::new([(x + left, 0.0), (x + right, v.max(0.0))], colour.filled())
                    })
                }))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 24, y + 6)], colour.filled())
                });
        }
        let whiskers = slots().flat_map(|(x, r)| {
            bars.iter().filter_map(move |&(pick, left, right, _, _)| {
                let (lo, hi) = ci_bounds(&pick(r))?;
                let mid = x + (left + right) / 2;
                Some([(mid, lo), (mid, hi)])
            })
        });
        draw_whiskers(&mut chart, whiskers, Direction::Vertical)?;
        chart.draw_series(slots().flat_map(|(x, r)| {
            bars.iter().filter_map(move |&(pick, left, right, _, _)| {
                let e = pick(r);
                let top = ci_bounds(&e).map_or(e.value, |(_, hi)| hi.max(e.value));
                e.value.is_finite().then(|| {
                    bar_label(
                        secs(e.value),
                        (x + (left + right) / 2, top.max(0.0) + lift),
                        Pos::new(HPos::Center, VPos::Bottom),
                    )
                })
            })
        }))?;
        // Upper right: the first components (pending, CPU) are the ones that grow tall.
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Horizontal bars of dollars per day by cost component, largest on top, total in the title.
pub fn cost_breakdown(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let cost = &out.summary.cost_usd;
    let mut rows: Vec<_> = cost
        .breakdown
        .iter()
        .filter(|r| r.per_day.value.is_finite())
        .collect();
    // Ascending, so the largest lands at the top of the y axis.
    rows.sort_by(|a, b| a.per_day.value.total_cmp(&b.per_day.value));
    let title = format!(
        "Cost per day by component — total {}/day",
        money(cost.per_day.value)
    );
    render(path, &title, |area| {
        let top = finite_max(
            rows.iter()
                .flat_map(|r| [r.per_day.value, r.per_day.ci95[1]]),
        );
        if rows.is_empty() || !top.is_some_and(|t| t > 0.0) {
            return no_data(area, "no cost components");
        }
        let names: Vec<&str> = rows.iter().map(|r| r.component.as_str()).collect();
        let longest = names.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let label_width = u32::try_from(longest).unwrap_or(u32::MAX / 16) * 9 + 40;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(label_width.clamp(90, 320))
            .build_cartesian_2d(0.0..axis_top(top, 1.4), categories(rows.len()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|v| category_name(&names, *v))
            .x_label_formatter(&money_tick)
            .x_desc("US dollars per day")
            .y_desc("component")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        let slots = || (0..).step_by(SLOT as usize).zip(rows.iter());
        chart
            .draw_series(slots().map(|(y, r)| {
                Rectangle::new(
                    [(0.0, y + 15), (r.per_day.value.max(0.0), y + 85)],
                    C_GREEN.filled(),
                )
            }))?
            .label("dollars per day (share of total)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], C_GREEN.filled()));
        let whiskers = slots().filter_map(|(y, r)| {
            let (lo, hi) = ci_bounds(&r.per_day)?;
            let mid = y + SLOT / 2;
            Some([(lo, mid), (hi, mid)])
        });
        draw_whiskers(&mut chart, whiskers, Direction::Horizontal)?;
        chart.draw_series(slots().map(|(y, r)| {
            let v = r.per_day.value;
            let end = ci_bounds(&r.per_day).map_or(v, |(_, hi)| hi.max(v));
            bar_label(
                format!("  {} ({})", money(v), pct(r.share)),
                (end.max(0.0), y + SLOT / 2),
                Pos::new(HPos::Left, VPos::Center),
            )
        }))?;
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
}
