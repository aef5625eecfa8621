//! Draws start-up time versus tree size, log-log, from `RESULT` files, and the restart storm
//! beside it when the files have storm figures.
//!
//! Run with `cargo run --release -p arbor-bench --bin plot -- OUT.png FILE...`, e.g.
//! `... -- docs/benchmarks-startup.png target/bench/results.txt docs/benchmarks-peers.txt`.
//!
//! Every column of the [`Dataset`] (a labelled source: `rt=multi`, `peer=otp_local`, ...) is one
//! series of its `spawn_dD_wall` figures, placed at 2^(D+1) - 1 nodes; a source with several
//! runs plots their median. A column with `tree_floor_dD_wall` figures (arbor-bench's
//! `--tests treefloor`: the same tree from bare tokio tasks) adds a dashed series of its own,
//! the floor under arbor's.
//!
//! When some column has `storm_nN_wall` figures (arbor-bench's `--tests storm`,
//! `scripts/storm-erlang.sh` for Erlang/OTP), a second plot goes beside OUT (see
//! [`storm_path`]: `docs/benchmarks-storm.png` for the command above): the time until all N
//! leaves have restarted against N, one series per column that has them, medians again.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Drawn dashed: a floor, not a measurement of arbor or a peer.
    dashed: bool,
}

/// The nodes of the tree a figure named `{prefix}D_wall` measured, if it is one.
fn tree_nodes(name: &str, prefix: &str) -> Option<usize> {
    let depth: u32 = name
        .strip_prefix(prefix)?
        .strip_suffix("_wall")?
        .parse()
        .ok()?;
    Some(nodes(depth))
}

/// Each column's `spawn_dD_wall` figures; a column with several runs plots their median.
fn series(data: &Dataset) -> Vec<Series> {
    series_of(data, |name| tree_nodes(name, "spawn_d"))
}

/// Each column's `tree_floor_dD_wall` figures: the floor under its start-up.
fn floor_series(data: &Dataset) -> Vec<Series> {
    let mut floors = series_of(data, |name| tree_nodes(name, "tree_floor_d"));
    for floor in &mut floors {
        let runtime = floor.label.trim_start_matches("arbor, ");
        floor.label = format!("bare-tokio tree floor, {runtime}");
        floor.dashed = true;
    }
    floors
}

/// Each column's `storm_nN_wall` figures, at N; a column with several runs plots their median.
fn storm_series(data: &Dataset) -> Vec<Series> {
    series_of(data, |name| {
        name.strip_prefix("storm_n")?
            .strip_suffix("_wall")?
            .parse()
            .ok()
    })
}

/// Each column's figures that `x` places (the figure's name to its x value), at their median;
/// columns without any are left out.
fn series_of(data: &Dataset, x: impl Fn(&str) -> Option<usize>) -> Vec<Series> {
    data.columns
        .iter()
        .filter_map(|column| {
            let mut runs = 1;
            let points: BTreeMap<usize, f64> = column
                .values
                .iter()
                .filter_map(|(name, values)| {
                    let x = x(name)?;
                    runs = runs.max(values.len());
                    Some((x, column.median(name)?))
                })
                .collect();
            let label = if runs > 1 {
                format!("{}, median of {runs} runs", column.label)
            } else {
                column.label.clone()
            };
            (!points.is_empty()).then_some(Series {
                label,
                points,
                dashed: false,
            })
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

/// The words of one plot.
#[derive(Debug)]
struct Figure {
    caption: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    /// The figures it plots, for the error when there are none.
    figures: &'static str,
}

const STARTUP: Figure = Figure {
    caption: "Start-up: a full binary tree to all-Healthy",
    x_desc: "nodes in the tree",
    y_desc: "wall time to all-Healthy (ms)",
    figures: "spawn_dD_wall",
};

const STORM: Figure = Figure {
    caption: "Restart storm: N leaves of one supervisor die at once",
    x_desc: "dying leaves N",
    y_desc: "time until all N restarted (ms)",
    figures: "storm_nN_wall",
};

/// Where the storm plot of start-up plot `out` goes: beside it, `startup` in its file name
/// replaced by `storm` (`docs/benchmarks-startup.png` → `docs/benchmarks-storm.png`), or
/// `-storm` added to a name without it (`/tmp/x.png` → `/tmp/x-storm.png`).
fn storm_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = if name.contains("startup") {
        name.replace("startup", "storm")
    } else {
        let stem = out
            .file_stem()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        match out.extension() {
            Some(ext) => format!("{stem}-storm.{}", ext.to_string_lossy()),
            None => format!("{stem}-storm"),
        }
    };
    out.with_file_name(name)
}

fn draw(out: &Path, figure: &Figure, series: &[Series]) -> anyhow::Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (min_x, max_x) = all().fold((f64::MAX, 0f64), |(lo, hi), (&n, _)| {
        (lo.min(n as f64), hi.max(n as f64))
    });
    let (min_y, max_y) = all().fold((f64::MAX, 0f64), |(lo, hi), (_, &ms)| {
        (lo.min(ms), hi.max(ms))
    });
    anyhow::ensure!(max_x > 0.0, "no {} figures in the input", figure.figures);

    let root = BitMapBackend::new(out, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(figure.caption, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (min_x / 1.6..max_x * 1.6).log_scale(),
            (min_y / 2.0..max_y * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(figure.x_desc)
        .y_desc(figure.y_desc)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .x_label_formatter(&|x| thousands(*x))
        .y_label_formatter(&|y| thousands(*y))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s.points.iter().map(|(&n, &ms)| (n as f64, ms)).collect();
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(
                points.clone(),
                8,
                6,
                color.stroke_width(2),
            ))?
        } else {
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
        };
        drawn.label(s.label.as_str()).legend(move |(x, y)| {
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
        let data = Dataset::read(files)?;
        let (mut startup, storm) = (series(&data), storm_series(&data));
        if !startup.is_empty() {
            startup.extend(floor_series(&data));
        }
        // Without storm figures the start-up plot is all there is, and must have figures.
        if !startup.is_empty() || storm.is_empty() {
            draw(Path::new(out), &STARTUP, &startup)?;
            println!("wrote {out}: {} series", startup.len());
        } else {
            println!("no spawn_dD_wall figures: {out} not drawn");
        }
        if !storm.is_empty() {
            let out = storm_path(Path::new(out));
            draw(&out, &STORM, &storm)?;
            println!("wrote {}: {} series", out.display(), storm.len());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const RESULTS: &str = "\
# label peer=otp_local: Erlang/OTP, this run
RESULT rt=multi spawn_d10_wall=3.0 ms
RESULT rt=multi storm_n100_wall=2.0 ms
RESULT rt=multi storm_n100_wall=1.0 ms
RESULT rt=multi storm_n100_wall=3.0 ms
RESULT rt=multi storm_n100_probe_a_p50=0.5 ms
RESULT rt=multi storm_n1000_wall=20.0 ms
RESULT rt=current storm_n100_wall=4.0 ms
RESULT peer=otp_local spawn_d10_wall=9.0 ms
RESULT peer=otp_local storm_n100_wall=0.75 ms
RESULT peer=otp_local storm_n100_probe_samples=32.0 count
RESULT peer=go spawn_d10_wall=5.0 ms
";

    /// Each series as its label and points, for comparing.
    fn shown(series: &[Series]) -> Vec<(&str, Vec<(usize, f64)>)> {
        series
            .iter()
            .map(|s| {
                (
                    s.label.as_str(),
                    s.points.iter().map(|(&n, &ms)| (n, ms)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn storm_series_take_each_columns_wall_at_n_and_the_median_of_runs() {
        let storm = storm_series(&Dataset::parse(RESULTS));
        let got = shown(&storm);
        assert_eq!(
            got,
            [
                (
                    "arbor, tokio multi-thread, median of 3 runs",
                    vec![(100, 2.0), (1000, 20.0)]
                ),
                ("arbor, tokio current-thread", vec![(100, 4.0)]),
                ("Erlang/OTP, this run", vec![(100, 0.75)]),
            ]
        );
    }

    #[test]
    fn the_floor_is_a_dashed_series_of_its_own_beside_the_start_up() {
        let data = Dataset::parse(
            "RESULT rt=multi spawn_d10_wall=3.0 ms\n\
             RESULT rt=multi tree_floor_d10_wall=1.0 ms\n\
             RESULT rt=multi tree_floor_d14_wall=16.0 ms\n",
        );
        let floors = floor_series(&data);
        assert_eq!(floors.len(), 1);
        assert!(floors[0].dashed);
        assert_eq!(floors[0].label, "bare-tokio tree floor, tokio multi-thread");
        assert_eq!(shown(&floors)[0].1, [(2047, 1.0), (32767, 16.0)]);
        assert!(series(&data)
            .iter()
            .all(|s| !s.dashed && s.points.len() == 1));
    }

    #[test]
    fn the_startup_series_ignore_storm_figures() {
        let startup = series(&Dataset::parse(RESULTS));
        let got = shown(&startup);
        assert_eq!(
            got,
            [
                ("arbor, tokio multi-thread", vec![(2047, 3.0)]),
                ("Erlang/OTP, this run", vec![(2047, 9.0)]),
                ("peer=go", vec![(2047, 5.0)]),
            ]
        );
    }

    #[test]
    fn the_storm_plot_goes_beside_the_startup_plot() {
        let path = |p: &str| storm_path(Path::new(p));
        assert_eq!(
            path("docs/benchmarks-startup.png"),
            Path::new("docs/benchmarks-storm.png")
        );
        assert_eq!(path("/tmp/x.png"), Path::new("/tmp/x-storm.png"));
        assert_eq!(path("out"), Path::new("out-storm"));
    }
}
