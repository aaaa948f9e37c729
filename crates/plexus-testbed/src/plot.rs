//! PNG plots of the flash crowd: the CDF of getters' finish times against
//! the fluid bound. Text is drawn with DejaVu Sans compiled into the
//! binary (no system fonts).

use std::{path::Path, sync::Once};

use anyhow::{anyhow, Result};
use plotters::prelude::*;

const SIZE: (u32, u32) = (1000, 620);

/// Registers the built-in DejaVu font once (shared by every plot).
pub(crate) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font ships with the `dejavu` crate: it always parses.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// A plotting error as an `anyhow` error.
pub(crate) fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// Draws the share of getters finished over time (`finishes` in seconds
/// from the common start), with the bound and `slack` x the bound marked.
pub fn finish_cdf(
    path: &Path,
    title: &str,
    finishes: &[f64],
    bound: f64,
    slack: f64,
) -> Result<()> {
    fonts();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut sorted = finishes.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    let right = sorted.last().copied().unwrap_or(0.0).max(bound * slack) * 1.05;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: getters finished over time"),
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right, 0.0..1.05)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since all getters asked")
        .y_desc("share of getters finished")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    // A step line: 0 until the first finish, +1/n at each.
    let mut steps = vec![(0.0, 0.0)];
    for (k, t) in sorted.iter().enumerate() {
        steps.push((*t, k as f64 / n));
        steps.push((*t, (k + 1) as f64 / n));
    }
    steps.push((right, sorted.len() as f64 / n));
    chart
        .draw_series(LineSeries::new(steps, BLUE.stroke_width(3)))
        .map_err(err)?
        .label("finish times (CDF)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(3)));
    for (x, color, label) in [
        (bound, GREEN, format!("fluid lower bound {bound:.1} s")),
        (
            bound * 1.2,
            RED,
            format!("1.2 x bound {:.1} s", bound * 1.2),
        ),
    ] {
        chart
            .draw_series(LineSeries::new(
                vec![(x, 0.0), (x, 1.05)],
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
