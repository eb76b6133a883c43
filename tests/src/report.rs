//! The report of `cargo xtask bench` (tests/benches/bench): every figure is a [`Section`] (method, tables, charts, raw samples); the
//! report is written under `target/bench/` as Markdown (`report.md`), JSON with every raw
//! sample (`report.json`) and one PNG per chart, and its tables are printed.
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// min / median / p95 / p99 / max of a sample (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// None for an empty sample; NaNs are ignored.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Summary { n: v.len(), min: v[0], median: rank(0.5), p95: rank(0.95), p99: rank(0.99), max: v[v.len() - 1] })
    }
}

/// A table as printed and as written to Markdown.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(caption: impl Into<String>, header: &[&str]) -> Table {
        Table { caption: caption.into(), header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                } else {
                    w.push(c.chars().count());
                }
            }
        }
        w
    }

    /// Aligned text for the terminal.
    pub fn to_text(&self) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect::<Vec<_>>().join("  ")
        };
        let mut s = format!("{}\n  {}\n", self.caption, line(&self.header));
        for r in &self.rows {
            s.push_str(&format!("  {}\n", line(r)));
        }
        s
    }

    pub fn to_markdown(&self) -> String {
        let esc = |c: &String| c.replace('|', "\\|");
        let mut s = format!("**{}**\n\n| {} |\n|{}|\n", self.caption, self.header.iter().map(esc).collect::<Vec<_>>().join(" | "), vec!["---"; self.header.len()].join("|"));
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.iter().map(esc).collect::<Vec<_>>().join(" | ")));
        }
        s
    }
}

/// One named series of samples (a distribution) or of (x, y) points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    /// Drawn, not written to the JSON: the section's `samples` hold every raw value already
    /// (with a full run's lateness samples, writing them twice made report.json 50 MB).
    #[serde(skip)]
    pub values: Vec<f64>,
}

/// A chart, drawn to `<out>/<file>` (PNG).
#[derive(Debug, Clone, Serialize)]
pub enum Chart {
    /// Distributions side by side (e.g. the outages of ours and keepalived's), one box or
    /// strip per series, on a shared axis in `unit`.
    Distributions { file: String, title: String, unit: String, series: Vec<Series> },
    /// One bar per label.
    Bars { file: String, title: String, unit: String, bars: Vec<(String, f64)> },
}

impl Chart {
    pub fn file(&self) -> &str {
        match self {
            Chart::Distributions { file, .. } | Chart::Bars { file, .. } => file,
        }
    }

    pub fn title(&self) -> &str {
        match self {
            Chart::Distributions { title, .. } | Chart::Bars { title, .. } => title,
        }
    }
}

/// One figure of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Short id, as given to `--only` (e.g. "xdp", "failover").
    pub id: String,
    pub title: String,
    /// How it was measured, in a few sentences (goes into the Markdown).
    pub method: String,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    /// Observations worth a line (e.g. "keepalived: a second router entered MASTER in 3/20").
    pub notes: Vec<String>,
    /// Every raw sample, for the JSON.
    pub samples: serde_json::Value,
    /// Set when the figure could not be measured (the report still gets written).
    pub error: Option<String>,
}

impl Section {
    pub fn new(id: &str, title: impl Into<String>, method: impl Into<String>) -> Section {
        Section { id: id.into(), title: title.into(), method: method.into(), tables: Vec::new(), charts: Vec::new(), notes: Vec::new(), samples: serde_json::Value::Null, error: None }
    }

    pub fn failed(id: &str, error: &anyhow::Error) -> Section {
        Section { error: Some(format!("{error:#}")), ..Section::new(id, format!("{id}: not measured"), "") }
    }
}

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub kernel: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub keepalived: Option<String>,
}

impl Machine {
    pub fn describe(keepalived: Option<String>) -> Machine {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("").trim().to_string();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb: f64 = meminfo.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        Machine { kernel, cpu, cores, memory_gib: kb / (1024.0 * 1024.0), keepalived }
    }

    pub fn line(&self) -> String {
        format!("{} cores ({}), {:.0} GiB, Linux {}{}", self.cores, self.cpu, self.memory_gib, self.kernel, self.keepalived.as_deref().map(|k| format!(", {k}")).unwrap_or_default())
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub started_utc: String,
    pub quick: bool,
    pub machine: Machine,
    pub sections: Vec<Section>,
}

impl Report {
    /// Prints one section's tables and notes (as soon as it is measured).
    pub fn print_section(s: &Section) {
        println!("\n== {} ==", s.title);
        if let Some(e) = &s.error {
            println!("  NOT MEASURED: {e}");
        }
        for t in &s.tables {
            print!("{}", t.to_text());
        }
        for n in &s.notes {
            println!("  note: {n}");
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# vrrp-agent benchmarks{}\n\nMeasured {} on {}.\n",
            if self.quick { " (--quick)" } else { "" },
            self.started_utc,
            self.machine.line()
        );
        for sec in &self.sections {
            s.push_str(&format!("\n## {}\n\n", sec.title));
            if let Some(e) = &sec.error {
                s.push_str(&format!("Not measured: {e}\n\n"));
            }
            if !sec.method.is_empty() {
                s.push_str(&format!("{}\n\n", sec.method));
            }
            for t in &sec.tables {
                s.push_str(&t.to_markdown());
                s.push('\n');
            }
            for c in &sec.charts {
                s.push_str(&format!("![{}]({})\n\n", c.title(), c.file()));
            }
            for n in &sec.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }

    /// Writes report.md, report.json and, with `draw`, the charts under `dir`.
    pub fn write(&self, dir: &Path, draw: impl Fn(&Chart, &Path) -> Result<()>) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for sec in &self.sections {
            for c in &sec.charts {
                draw(c, &dir.join(c.file())).with_context(|| format!("drawing {}", c.file()))?;
            }
        }
        let md = dir.join("report.md");
        std::fs::write(&md, self.to_markdown()).with_context(|| format!("writing {}", md.display()))?;
        let js = dir.join("report.json");
        std::fs::write(&js, serde_json::to_vec(self)?).with_context(|| format!("writing {}", js.display()))?;
        Ok(())
    }

    /// Checks that a report was written under `dir`: report.md and report.json, and every
    /// chart report.json lists, non-empty. Returns the files checked. (`cargo xtask test`
    /// runs the bench with --quick and this check; no figure is asserted.)
    pub fn check_written(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        let non_empty = |p: &Path| -> Result<()> {
            let len = std::fs::metadata(p).with_context(|| format!("{} is missing", p.display()))?.len();
            anyhow::ensure!(len > 0, "{} is empty", p.display());
            Ok(())
        };
        let (md, js) = (dir.join("report.md"), dir.join("report.json"));
        non_empty(&md)?;
        non_empty(&js)?;
        let text = std::fs::read(&js).with_context(|| format!("reading {}", js.display()))?;
        let v: serde_json::Value = serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", js.display()))?;
        let sections = v["sections"].as_array().with_context(|| format!("{} has no sections", js.display()))?;
        let mut files = vec![md, js.clone()];
        for sec in sections {
            for chart in sec["charts"].as_array().into_iter().flatten() {
                // Externally tagged: {"Bars": {"file": ..}} or {"Distributions": {"file": ..}}.
                let file = chart.as_object().and_then(|o| o.values().next()).and_then(|c| c["file"].as_str());
                let file = file.with_context(|| format!("{}: a chart without a file: {chart}", js.display()))?;
                let p = dir.join(file);
                non_empty(&p)?;
                files.push(p);
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&v).expect("summary");
        assert_eq!((s.min, s.median, s.p95, s.p99, s.max), (1.0, 50.0, 95.0, 99.0, 100.0));
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[3.0]).map(|s| s.p99), Some(3.0));
    }

    #[test]
    fn a_written_report_is_checked_down_to_its_charts() {
        let dir = std::env::temp_dir().join(format!("vrrp-report-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut sec = Section::new("x", "X", "how");
        sec.charts.push(Chart::Bars { file: "x.png".into(), title: "t".into(), unit: "ns".into(), bars: vec![("a".into(), 1.0)] });
        let report = Report {
            started_utc: "now".into(),
            quick: true,
            machine: Machine { kernel: "k".into(), cpu: "c".into(), cores: 1, memory_gib: 1.0, keepalived: None },
            sections: vec![sec],
        };
        report.write(&dir, |_, p| Ok(std::fs::write(p, b"png")?)).expect("written");
        let files = Report::check_written(&dir).expect("complete");
        assert_eq!(files.len(), 3);
        std::fs::remove_file(dir.join("x.png")).expect("remove the chart");
        let err = Report::check_written(&dir).expect_err("a listed chart is missing");
        assert!(format!("{err:#}").contains("x.png"), "{err:#}");
        std::fs::remove_file(dir.join("report.md")).expect("remove the md");
        assert!(Report::check_written(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
