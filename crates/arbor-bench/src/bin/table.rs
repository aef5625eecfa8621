//! Prints the benchmark figures as a Markdown table, with ratios against a reference column.
//!
//! Run with `cargo run --release -p arbor-bench --bin table -- [--vs LABEL] FILE...`.
//! Columns are the labelled sources of the files (see `arbor_bench::dataset`), in the order
//! they appear; several runs of one source are shown as `a / b / c`. For each arbor column
//! there is a ratio column `reference ÷ arbor` (median over runs): every figure is lower-is-
//! better, so above 1 means arbor does better. The reference is the column labelled `--vs`,
//! else the first whose label starts with `Erlang`.

use std::process::ExitCode;

use anyhow::Context as _;
use arbor_bench::dataset::Dataset;

fn format_value(v: f64) -> String {
    match v.abs() {
        a if a >= 1000.0 => {
            let digits = format!("{v:.0}");
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 && c != '-' {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        a if a >= 0.1 => format!("{v:.3}"),
        _ => format!("{v:.4}"),
    }
}

fn table(data: &Dataset, vs: Option<&str>) -> String {
    let reference = match vs {
        Some(label) => data.column(label),
        None => data.columns.iter().find(|c| c.label.starts_with("Erlang")),
    };
    let arbor: Vec<_> = data
        .columns
        .iter()
        .filter(|c| c.label.starts_with("arbor"))
        .collect();
    let mut out = String::from("| metric | unit |");
    for c in &data.columns {
        out += &format!(" {} |", c.label);
    }
    if let Some(r) = reference {
        for a in &arbor {
            out += &format!(" {} ÷ {} |", short(&r.label), short(&a.label));
        }
    }
    out += "\n|---|---|";
    let ratios = reference.map_or(0, |_| arbor.len());
    out += &"---:|".repeat(data.columns.len() + ratios);
    out.push('\n');
    for (name, unit) in &data.metrics {
        out += &format!("| {name} | {unit} |");
        for c in &data.columns {
            let values: Vec<String> = c.get(name).iter().map(|&v| format_value(v)).collect();
            out += &format!(
                " {} |",
                if values.is_empty() {
                    "—".to_owned()
                } else {
                    values.join(" / ")
                }
            );
        }
        if let Some(r) = reference {
            for a in &arbor {
                let ratio = r
                    .median(name)
                    .zip(a.median(name))
                    .filter(|&(_, a)| a > 0.0)
                    .map(|(r, a)| format!("{:.2}", r / a));
                out += &format!(" {} |", ratio.unwrap_or_else(|| "—".into()));
            }
        }
        out.push('\n');
    }
    out
}

/// "arbor, tokio multi-thread" → "multi-thread"; "Erlang/OTP 25, this run" → "Erlang/OTP 25".
fn short(label: &str) -> &str {
    match label.strip_prefix("arbor, tokio ") {
        Some(rt) => rt,
        None => label.split(',').next().unwrap_or(label),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> anyhow::Result<()> {
        let (vs, files) = match args.split_first() {
            Some((flag, rest)) if flag == "--vs" => {
                let (label, files) = rest.split_first().context("--vs needs a label")?;
                (Some(label.as_str()), files)
            }
            _ => (None, args.as_slice()),
        };
        anyhow::ensure!(
            !files.is_empty(),
            "usage: table [--vs LABEL] RESULTS_FILE..."
        );
        print!("{}", table(&Dataset::read(files)?, vs));
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("table: {err:#}");
            ExitCode::FAILURE
        }
    }
}
