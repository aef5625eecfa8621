//! Draws start-up time versus tree size, log-log, from `RESULT` files.
//!
//! Run with `cargo run --release -p arbor-bench --bin plot -- OUT.png FILE...`, e.g.
//! `... -- docs/benchmarks-startup.png target/bench/results.txt docs/benchmarks-peers.txt`.
//!
//! Every column of the [`Dataset`] (a labelled source: `rt=multi`, `peer=otp_local`, ...) is one
//! series of its `spawn_dD_wall` figures, placed at 2^(D+1) - 1 nodes; a source with several
//! runs plots their median.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use arbor_bench::dataset::Dataset;
use arbor_bench::tree::nodes;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// One series: its legend and its (nodes, ms) points, in order of size.
#[derive(Debug, Default)]
struct Series {
    label: String,
    points: BTreeMap<usize, f64>,
}

/// Each column's `spawn_dD_wall` figures; a column with several runs plots their median.
fn series(data: &Dataset) -> Vec<Series> {
    data.columns
        .iter()
        .filter_map(|column| {
            let mut runs = 1;
            let points: BTreeMap<usize, f64> = column
                .values
                .iter()
                .filter_map(|(name, values)| {
                    let depth: u32 = name
                        .strip_prefix("spawn_d")?
                        .strip_suffix("_wall")?
                        .parse()
                        .ok()?;
                    runs = runs.max(values.len());
                    Some((nodes(depth), column.median(name)?))
                })
                .collect();
            let label = if runs > 1 {
                format!("{}, median of {runs} runs", column.label)
            } else {
                column.label.clone()
            };
            (!points.is_empty()).then_some(Series { label, points })
        })
        .collect()
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

fn draw(out: &str, series: &[Series]) -> anyhow::Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (min_x, max_x) = all().fold((f64::MAX, 0f64), |(lo, hi), (&n, _)| {
        (lo.min(n as f64), hi.max(n as f64))
    });
    let (min_y, max_y) = all().fold((f64::MAX, 0f64), |(lo, hi), (_, &ms)| {
        (lo.min(ms), hi.max(ms))
    });
    anyhow::ensure!(max_x > 0.0, "no spawn_dD_wall figures in the input");

    let root = BitMapBackend::new(out, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Start-up: a full binary tree to all-Healthy",
            ("sans-serif", 26),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (min_x / 1.6..max_x * 1.6).log_scale(),
            (min_y / 2.0..max_y * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("nodes in the tree")
        .y_desc("wall time to all-Healthy (ms)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .x_label_formatter(&|x| thousands(*x))
        .y_label_formatter(&|y| thousands(*y))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s.points.iter().map(|(&n, &ms)| (n as f64, ms)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(move |p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// 1048575 → "1,048,575"; small values keep up to three significant decimals.
fn thousands(x: f64) -> String {
    if x < 1.0 {
        return format!("{x:.3}");
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> anyhow::Result<()> {
        let (out, files) = args
            .split_first()
            .filter(|(_, files)| !files.is_empty())
            .context("usage: plot OUT.png RESULTS_FILE...")?;
        // An embedded font: no fontconfig or freetype needed.
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| anyhow::anyhow!("the embedded DejaVu Sans font did not load"))?;
        let series = series(&Dataset::read(files)?);
        draw(out, &series)?;
        println!("wrote {out}: {} series", series.len());
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("plot: {err:#}");
            ExitCode::FAILURE
        }
    }
}
