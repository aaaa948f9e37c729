//! PNG plots of a simulation: the hop histogram before churn, and lookup
//! and provider-find success over time after each churn step. Text is
//! drawn with DejaVu Sans compiled into the binary (no system fonts).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::SimReport;
use crate::plot::{err, fonts};

/// File name of the hop histogram.
pub const HOPS_PNG: &str = "dht-hops.png";
/// File name of the churn plot.
pub const CHURN_PNG: &str = "dht-churn.png";

const SIZE: (u32, u32) = (1000, 620);

/// Writes both plots into `dir` (created if missing).
pub fn write_all(report: &SimReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    hops(report, &dir.join(HOPS_PNG))?;
    churn(report, &dir.join(CHURN_PNG))?;
    Ok(())
}

/// Share of each hop count, peer lookups and provider finds side by side.
pub fn hops(report: &SimReport, path: &Path) -> Result<()> {
    fonts();
    let share = |h: &[usize]| -> Vec<f64> {
        let total = h.iter().sum::<usize>().max(1) as f64;
        h.iter().map(|&c| c as f64 * 100.0 / total).collect()
    };
    let (peers, finds) = (share(&report.peer_hops), share(&report.find_hops));
    let max_hops = peers.len().max(finds.len()).max(1);
    let top = peers.iter().chain(&finds).copied().fold(0.0, f64::max);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "DHT hops at {} nodes ({} lookups each; median peer {}, provider {})",
        report.config.nodes, report.peers.count, report.peers.hops.0, report.finds.hops.0
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..max_hops as f64 - 0.5, 0f64..(top * 1.15).max(1.0))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("hops (request rounds to the answer)")
        .y_desc("% of successful lookups")
        .x_labels(max_hops)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .disable_x_mesh()
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let bars = |values: &[f64], offset: f64, color: RGBColor| {
        values
            .iter()
            .enumerate()
            .map(move |(h, &v)| {
                let x = h as f64 + offset;
                Rectangle::new([(x - 0.2, 0.0), (x + 0.2, v)], color.filled())
            })
            .collect::<Vec<_>>()
    };
    let blue = RGBColor(52, 101, 164);
    let orange = RGBColor(245, 121, 0);
    chart
        .draw_series(bars(&peers, -0.2, blue))
        .map_err(err)?
        .label("peer lookups")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], blue.filled()));
    chart
        .draw_series(bars(&finds, 0.2, orange))
        .map_err(err)?
        .label("provider finds")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], orange.filled()));
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Success over time after each churn step: peer lookups (solid, filled
/// dots) and provider finds (hollow dots).
pub fn churn(report: &SimReport, path: &Path) -> Result<()> {
    fonts();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let end = report
        .steps
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.at))
        .fold(1.0, f64::max);
    let low = report
        .steps
        .iter()
        .flat_map(|s| s.points.iter())
        .map(|p| p.peers.success.min(p.finds.success) * 100.0)
        .fold(100.0, f64::min);
    let floor = ((low - 5.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
    let title = format!(
        "Success after churn, {} nodes (refresh every {} s)",
        report.config.nodes,
        report.config.refresh.as_secs()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end * 1.05, floor..101f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the nodes were removed")
        .y_desc("% successful")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let colors = [
        RGBColor(52, 101, 164),
        RGBColor(245, 121, 0),
        RGBColor(204, 0, 0),
        RGBColor(78, 154, 6),
    ];
    for (i, step) in report.steps.iter().enumerate() {
        let color = colors[i % colors.len()];
        let peers: Vec<(f64, f64)> = step
            .points
            .iter()
            .map(|p| (p.at, p.peers.success * 100.0))
            .collect();
        let finds: Vec<(f64, f64)> = step
            .points
            .iter()
            .map(|p| (p.at, p.finds.success * 100.0))
            .collect();
        chart
            .draw_series(LineSeries::new(peers.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{}% gone: peer lookups", step.pct))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(peers.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                finds.clone(),
                color.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("{}% gone: provider finds", step.pct))
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.stroke_width(2)));
        chart
            .draw_series(
                finds
                    .iter()
                    .map(|&p| Circle::new(p, 5, color.stroke_width(2))),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
