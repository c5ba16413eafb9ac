//! Charts of a study (a sweep or a capacity search): a metric against a swept setting or the
//! load, one line per configuration with its 95 % confidence band, the SLO bound dashed, and
//! chosen points (capacities) marked and labelled; and bars of one value per configuration.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format::{money_tick, tick};
use super::plot::{
    C_BLUE, C_BROWN, C_DARK, C_GREEN, C_ORANGE, C_PURPLE, C_RED, FONT, SLOT, axis_top, bar_label,
    categories, category_name, finite_max, legend, no_data, render,
};

/// Line colours, in turn.
const PALETTE: [RGBColor; 6] = [C_BLUE, C_ORANGE, C_GREEN, C_PURPLE, C_BROWN, C_DARK];

/// One configuration's line: points `(x, y, ci_low, ci_high)` in x order.
pub(super) struct Curve {
    /// Legend label.
    pub(super) label: String,
    /// The points; NaN bounds draw no band there.
    pub(super) points: Vec<[f64; 4]>,
    /// A point to mark on the line with its label (a capacity).
    pub(super) mark: Option<(f64, f64, String)>,
}

/// A chart of curves: titles, axis descriptions and an optional dashed bound.
pub(super) struct CurveChart<'a> {
    /// Chart title.
    pub(super) title: &'a str,
    /// X axis description with unit.
    pub(super) x_desc: &'a str,
    /// Y axis description with unit.
    pub(super) y_desc: &'a str,
    /// Horizontal bounds (the SLO's, one per distinct value) with their legend labels.
    pub(super) bounds: Vec<(f64, String)>,
    /// The configurations.
    pub(super) curves: &'a [Curve],
    /// The y axis is in dollars.
    pub(super) dollars: bool,
}

/// Draws `chart` to `path`.
pub(super) fn curves(chart: &CurveChart, path: &Path) -> anyhow::Result<()> {
    render(path, chart.title, |area| {
        let finite = |v: f64| v.is_finite().then_some(v);
        let xs = || {
            chart
                .curves
                .iter()
                .flat_map(|c| c.points.iter().filter_map(|p| finite(p[0])))
        };
        let (Some(x_min), Some(x_max)) = (xs().reduce(f64::min), xs().reduce(f64::max)) else {
            return no_data(area, "no points");
        };
        let pad = ((x_max - x_min) * 0.04).max(x_max.abs() * 0.02).max(1e-9);
        let y_top = axis_top(
            finite_max(
                chart
                    .curves
                    .iter()
                    .flat_map(|c| c.points.iter().flat_map(|p| [p[1], p[3]]))
                    .chain(chart.bounds.iter().map(|b| b.0)),
            ),
            // Headroom above the data for the legend.
            1.4,
        );
        let mut plot = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d((x_min - pad)..(x_max + pad), 0.0..y_top)?;
        plot.configure_mesh()
            .x_desc(chart.x_desc)
            .y_desc(chart.y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(if chart.dollars { &money_tick } else { &tick })
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for (k, curve) in chart.curves.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let banded: Vec<&[f64; 4]> = curve
                .points
                .iter()
                .filter(|p| p.iter().all(|v| v.is_finite()))
                .collect();
            if banded.len() >= 2 {
                let outline: Vec<(f64, f64)> = banded
                    .iter()
                    .map(|p| (p[0], p[2].max(0.0)))
                    .chain(banded.iter().rev().map(|p| (p[0], p[3].min(y_top))))
                    .collect();
                plot.draw_series(std::iter::once(Polygon::new(
                    outline,
                    colour.mix(0.18).filled(),
                )))?;
            }
            let line: Vec<(f64, f64)> = curve
                .points
                .iter()
                .filter(|p| p[0].is_finite() && p[1].is_finite())
                .map(|p| (p[0], p[1].min(y_top)))
                .collect();
            plot.draw_series(LineSeries::new(line.clone(), colour.stroke_width(3)))?
                .label(curve.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
                });
            plot.draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
            if let Some((x, y, text)) = &curve.mark
                && x.is_finite()
                && y.is_finite()
            {
                let at = (*x, y.min(y_top));
                plot.draw_series(std::iter::once(Circle::new(at, 8, C_RED.stroke_width(3))))?;
                plot.draw_series(std::iter::once(bar_label(
                    text.clone(),
                    at,
                    Pos::new(HPos::Right, VPos::Bottom),
                )))?;
            }
        }
        if chart
            .curves
            .iter()
            .any(|c| c.points.iter().any(|p| p[2].is_finite()))
        {
            plot.draw_series(std::iter::empty::<Polygon<(f64, f64)>>())?
                .label("95 % CI (band)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 24, y + 6)], C_BLUE.mix(0.18).filled())
                });
        }
        for (y, label) in &chart.bounds {
            plot.draw_series(DashedLineSeries::new(
                vec![(x_min - pad, *y), (x_max + pad, *y)],
                10,
                6,
                C_RED.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(|(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, C_RED.stroke_width(2))
            });
        }
        legend(&mut plot, quiet_corner(chart.curves, (x_min, x_max), y_top))
    })
}

/// The upper corner with fewer points high up, where the legend hides least.
fn quiet_corner(curves: &[Curve], (x_min, x_max): (f64, f64), y_top: f64) -> SeriesLabelPosition {
    let third = (x_max - x_min) / 3.0;
    let high = |keep: &dyn Fn(f64) -> bool| {
        curves
            .iter()
            .flat_map(|c| &c.points)
            .filter(|p| keep(p[0]) && p[3].max(p[1]) > 0.55 * y_top)
            .count()
    };
    if high(&|x| x <= x_min + third) <= high(&|x| x >= x_max - third) {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// The distinct bounds of the SLO check `name` across `summaries`, in first-seen order, each
/// made into a chart bound by `label`.
pub(super) fn distinct_bounds<'s>(
    summaries: impl Iterator<Item = &'s crate::results::Summary>,
    name: &str,
    label: impl Fn(f64) -> (f64, String),
) -> Vec<(f64, String)> {
    let mut seen: Vec<f64> = Vec::new();
    for s in summaries {
        for c in s.slo.checks.iter().filter(|c| c.name == name) {
            if !seen.contains(&c.target) {
                seen.push(c.target);
            }
        }
    }
    seen.into_iter().map(label).collect()
}

/// One bar: its configuration, value with 95 % bounds, and the text written above it.
pub(super) struct Bar {
    /// Category label under the bar.
    pub(super) label: String,
    /// `[value, ci_low, ci_high]`; NaN bounds draw no whisker.
    pub(super) value: [f64; 3],
    /// Written above the bar (instances, cost).
    pub(super) note: String,
}

/// Bars of one value per configuration, with CI whiskers and a note on each.
pub(super) fn bars(title: &str, y_desc: &str, bars: &[Bar], path: &Path) -> anyhow::Result<()> {
    render(path, title, |area| {
        let top = finite_max(bars.iter().flat_map(|b| [b.value[0], b.value[2]]));
        if bars.is_empty() || !top.is_some_and(|t| t > 0.0) {
            return no_data(area, "no configuration has a capacity");
        }
        let y_top = axis_top(top, 1.2);
        let names: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        let mut plot = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(categories(bars.len()), 0.0..y_top)?;
        plot.configure_mesh()
            .disable_x_mesh()
            .x_desc("configuration")
            .y_desc(y_desc)
            .x_label_formatter(&|v| category_name(&names, *v))
            .y_label_formatter(&tick)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 17))
            .draw()?;
        for (i, bar) in bars.iter().enumerate() {
            let left = i32::try_from(i).unwrap_or(0) * SLOT;
            let [value, lo, hi] = bar.value;
            if !value.is_finite() {
                plot.draw_series(std::iter::once(bar_label(
                    bar.note.clone(),
                    (left + SLOT / 2, y_top * 0.02),
                    Pos::new(HPos::Center, VPos::Bottom),
                )))?;
                continue;
            }
            plot.draw_series(std::iter::once(Rectangle::new(
                [(left + SLOT / 5, 0.0), (left + SLOT * 4 / 5, value)],
                PALETTE[i % PALETTE.len()].mix(0.8).filled(),
            )))?;
            let centre = left + SLOT / 2;
            if lo.is_finite() && hi.is_finite() {
                plot.draw_series(std::iter::once(PathElement::new(
                    vec![(centre, lo), (centre, hi)],
                    C_DARK.stroke_width(2),
                )))?;
            }
            let above = if hi.is_finite() { hi.max(value) } else { value };
            plot.draw_series(std::iter::once(bar_label(
                bar.note.clone(),
                (centre, above + y_top * 0.02),
                Pos::new(HPos::Center, VPos::Bottom),
            )))?;
        }
        Ok(())
    })
}

/// A grid of values over two swept settings: cells shaded from green (lowest) to red
/// (highest), each with its value written in it, and a heavy outline on cells beyond `bound`.
pub(super) struct HeatMap<'a> {
    /// Chart title.
    pub(super) title: &'a str,
    /// The first setting's name and its values, left to right.
    pub(super) x: (&'a str, Vec<String>),
    /// The second setting's name and its values, bottom to top.
    pub(super) y: (&'a str, Vec<String>),
    /// `cells[row][col]`: the value at `y[row]`, `x[col]` (NaN: no point there).
    pub(super) cells: Vec<Vec<f64>>,
    /// Cells above this miss the SLO.
    pub(super) bound: Option<f64>,
    /// How a value is written in its cell.
    pub(super) text: fn(f64) -> String,
}

/// Draws `map` to `path`.
pub(super) fn heat_map(map: &HeatMap, path: &Path) -> anyhow::Result<()> {
    render(path, map.title, |area| {
        let values = || {
            map.cells
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
        };
        let (Some(lo), Some(hi)) = (values().reduce(f64::min), values().reduce(f64::max)) else {
            return no_data(area, "no points");
        };
        let nx = i32::try_from(map.x.1.len()).unwrap_or(0);
        let ny = i32::try_from(map.y.1.len()).unwrap_or(0);
        let mut plot = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(
                (0..(nx - 1).max(0)).into_segmented(),
                (0..(ny - 1).max(0)).into_segmented(),
            )?;
        let name = |names: &[String], v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| names.get(i))
                .cloned()
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        plot.configure_mesh()
            .disable_mesh()
            .x_desc(map.x.0)
            .y_desc(map.y.0)
            .x_label_formatter(&|v| name(&map.x.1, v))
            .y_label_formatter(&|v| name(&map.y.1, v))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()?;
        let span = (hi - lo).max(f64::MIN_POSITIVE);
        for (row, cells) in (0..).zip(&map.cells) {
            for (col, &v) in (0..).zip(cells) {
                if !v.is_finite() {
                    continue;
                }
                let t = (v - lo) / span;
                let shade = RGBColor(
                    (60.0 + 190.0 * t) as u8,
                    (190.0 - 130.0 * t) as u8,
                    (90.0 - 30.0 * t) as u8,
                );
                let corners = [
                    (SegmentValue::Exact(col), SegmentValue::Exact(row)),
                    (SegmentValue::Exact(col + 1), SegmentValue::Exact(row + 1)),
                ];
                plot.draw_series(std::iter::once(Rectangle::new(
                    corners.clone(),
                    shade.mix(0.85).filled(),
                )))?;
                if map.bound.is_some_and(|b| v > b) {
                    plot.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        C_DARK.stroke_width(3),
                    )))?;
                }
                plot.draw_series(std::iter::once(Text::new(
                    (map.text)(v),
                    (SegmentValue::CenterOf(col), SegmentValue::CenterOf(row)),
                    TextStyle::from((FONT, 16))
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))?;
            }
        }
        Ok(())
    })
}

/// One configuration of a side-by-side chart: turn p95 and cost per session, each
/// `[value, ci_low, ci_high]` (NaN where unknown).
pub(super) struct SideBySide {
    /// The configuration's name.
    pub(super) label: String,
    /// Turn p95, seconds.
    pub(super) p95: [f64; 3],
    /// Cost per completed session, dollars.
    pub(super) cost: [f64; 3],
}

/// Draws turn p95 (left, with the SLO bound) and cost per session (right) of each
/// configuration side by side: one row per configuration, top to bottom in the given order,
/// horizontal bars with 95 % whiskers and the value written at the end of each bar.
pub(super) fn side_by_side(
    title: &str,
    rows: &[SideBySide],
    p95_bound: Option<f64>,
    path: &Path,
) -> anyhow::Result<()> {
    render(path, title, |area| {
        if rows.is_empty() {
            return no_data(area, "no configurations");
        }
        let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        let widest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        // About 8 px per character at the label size, within a third of the width.
        let label_width = (widest as u32 * 8 + 16).clamp(80, area.dim_in_pixel().0 / 3);
        let (w, _) = area.dim_in_pixel();
        let (left, right) = area.split_horizontally(label_width + (w - label_width) / 2);
        let p95: Vec<[f64; 3]> = rows.iter().map(|r| r.p95).collect();
        let cost: Vec<[f64; 3]> = rows.iter().map(|r| r.cost).collect();
        horizontal_bars(
            &left,
            &HorizontalBars {
                x_desc: "turn latency p95 (s)",
                values: &p95,
                names: Some((&names, label_width)),
                bound: p95_bound.map(|b| (b, format!("SLO p95 ≤ {}", super::format::secs(b)))),
                note: super::format::secs,
                dollars: false,
                colour: C_BLUE,
            },
        )?;
        horizontal_bars(
            &right,
            &HorizontalBars {
                x_desc: "cost per completed session (USD)",
                values: &cost,
                names: None,
                bound: None,
                note: super::format::money,
                dollars: true,
                colour: C_GREEN,
            },
        )
    })
}

/// One panel of [`side_by_side`].
struct HorizontalBars<'a> {
    x_desc: &'a str,
    values: &'a [[f64; 3]],
    /// Row names and the width of their label area; `None` for a panel beside a labelled one.
    names: Option<(&'a [&'a str], u32)>,
    bound: Option<(f64, String)>,
    note: fn(f64) -> String,
    /// The axis is in dollars.
    dollars: bool,
    colour: RGBColor,
}

fn horizontal_bars(area: &super::plot::Area<'_>, panel: &HorizontalBars) -> anyhow::Result<()> {
    let n = panel.values.len();
    let top = finite_max(
        panel
            .values
            .iter()
            .flat_map(|v| [v[0], v[2]])
            .chain(panel.bound.as_ref().map(|b| b.0)),
    );
    // Headroom for the value written after the longest bar.
    let x_top = axis_top(top, 1.3);
    let row = |i: usize| i32::try_from(n - 1 - i).unwrap_or(0) * SLOT;
    let mut plot = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(panel.names.map_or(10, |(_, w)| w))
        .build_cartesian_2d(0.0..x_top, categories(n))?;
    // The bound is named on the axis, so no legend box covers a bar.
    let x_desc = match &panel.bound {
        Some((_, label)) => format!("{} · dashed red: {label}", panel.x_desc),
        None => panel.x_desc.to_string(),
    };
    let names_bottom_up: Vec<&str> = panel
        .names
        .map(|(names, _)| names.iter().rev().copied().collect())
        .unwrap_or_default();
    plot.configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .x_desc(x_desc)
        .x_label_formatter(&|v| {
            if panel.dollars {
                money_tick(v)
            } else {
                tick(v)
            }
        })
        .y_label_formatter(&|v| category_name(&names_bottom_up, *v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 17))
        .draw()?;
    for (i, &[value, lo, hi]) in panel.values.iter().enumerate() {
        let y = row(i);
        if !value.is_finite() {
            plot.draw_series(std::iter::once(bar_label(
                "no data".into(),
                (x_top * 0.01, y + SLOT / 2),
                Pos::new(HPos::Left, VPos::Center),
            )))?;
            continue;
        }
        plot.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + SLOT / 5), (value, y + SLOT * 4 / 5)],
            panel.colour.mix(0.8).filled(),
        )))?;
        if lo.is_finite() && hi.is_finite() {
            plot.draw_series(std::iter::once(PathElement::new(
                vec![(lo, y + SLOT / 2), (hi, y + SLOT / 2)],
                C_DARK.stroke_width(2),
            )))?;
        }
        let end = if hi.is_finite() { hi.max(value) } else { value };
        plot.draw_series(std::iter::once(bar_label(
            (panel.note)(value),
            (end + x_top * 0.01, y + SLOT / 2),
            Pos::new(HPos::Left, VPos::Center),
        )))?;
    }
    if let Some((bound, _)) = &panel.bound {
        let height = i32::try_from(n).unwrap_or(0) * SLOT;
        plot.draw_series(std::iter::once(DashedPathElement::new(
            vec![(*bound, 0), (*bound, height)],
            8,
            5,
            C_RED.stroke_width(2),
        )))?;
    }
    Ok(())
}
