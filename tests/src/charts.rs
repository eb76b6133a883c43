//! The bench report's PNG charts ([`Chart`]): plotters draws into an RGB buffer and `png`
//! encodes it. Text is drawn with ab_glyph from a TrueType file read at run time (Debian's
//! `fonts-dejavu-core`, which `cargo xtask setup` installs): no font is vendored and nothing
//! needs fontconfig or freetype at build time.
use std::{
    fs::File,
    io::BufWriter,
    path::Path,
    sync::OnceLock,
};

use anyhow::{Context, Result, anyhow, bail};
use plotters::{
    backend::BitMapBackend,
    coord::Shift,
    prelude::*,
    style::{
        FontStyle, register_font,
        text_anchor::{HPos, Pos, VPos},
    },
};

use crate::report::{Chart, Series, Summary};

/// Where the font is looked for, first found wins (Debian/Ubuntu's `fonts-dejavu-core`).
pub const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];
/// The Debian package that provides it.
pub const FONT_PACKAGE: &str = "fonts-dejavu-core";
const FAMILY: &str = "sans-serif";

/// Registers the font once per process; the error says which package provides it.
fn ensure_font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let (path, bytes) = FONT_FILES
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(|b| (*p, b)))
            .ok_or_else(|| format!("no font for the charts: none of {} exists (install the Debian package {FONT_PACKAGE}: `cargo xtask setup`)", FONT_FILES.join(", ")))?;
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| format!("{path} is not a font ab_glyph can read"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// The size in pixels `chart` is drawn at (width, height).
pub fn size(chart: &Chart) -> (u32, u32) {
    match chart {
        Chart::Bars { bars, .. } => (1100, 90 + 26 * bars.len().max(1) as u32),
        Chart::Distributions { series, .. } => ((260 + 170 * series.len().max(1) as u32).min(1800), 600),
    }
}

/// Draws `chart` to `path` as a PNG of [`size`].
pub fn draw(chart: &Chart, path: &Path) -> Result<()> {
    ensure_font()?;
    let (w, h) = size(chart);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        match chart {
            Chart::Bars { title, unit, bars, .. } => bars_chart(&root, title, unit, bars)?,
            Chart::Distributions { title, unit, series, .. } => distributions_chart(&root, title, unit, series)?,
        }
        root.present().map_err(plot_err)?;
    }
    write_png(path, w, h, &rgb)
}

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Charts are mostly flat colour: the strongest deflate and per-row filters keep them small
    // enough to commit next to the README.
    enc.set_compression(png::Compression::Best);
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = enc.write_header().with_context(|| format!("writing {}", path.display()))?;
    writer.write_image_data(rgb).with_context(|| format!("writing {}", path.display()))?;
    writer.finish().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A readable number: 3 significant digits, no exponent.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Horizontal bars (the labels are long: one bar per row of a table), the value at the end
/// of each bar.
fn bars_chart(root: &DrawingArea<BitMapBackend<'_>, Shift>, title: &str, unit: &str, bars: &[(String, f64)]) -> Result<()> {
    if bars.is_empty() {
        bail!("a bar chart without bars");
    }
    let label_px = bars.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0) as u32 * 7 + 20;
    let label_px = label_px.min(root.dim_in_pixel().0 / 2);
    let max = bars.iter().map(|b| b.1).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let n = bars.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(label_px)
        .build_cartesian_2d(0.0..top, 0.0..n as f64)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .y_labels(0)
        .x_desc(unit)
        .label_style((FAMILY, 13))
        .x_label_formatter(&|v| fmt_num(*v))
        .draw()
        .map_err(plot_err)?;
    // Row 0 at the top, as in the table.
    let y_of = |i: usize| (n - 1 - i) as f64;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            Rectangle::new([(0.0, y_of(i) + 0.15), (v, y_of(i) + 0.85)], Palette99::pick(0).mix(0.8).filled())
        }))
        .map_err(plot_err)?;
    let anchored = |h: HPos| TextStyle::from((FAMILY, 12).into_font()).pos(Pos::new(h, VPos::Center));
    for (i, (label, v)) in bars.iter().enumerate() {
        let (x0, y) = chart.backend_coord(&(0.0, y_of(i) + 0.5));
        root.draw(&Text::new(label.clone(), (x0 - 8, y), anchored(HPos::Right))).map_err(plot_err)?;
        let (shown, end) = if v.is_finite() { (fmt_num(*v), v.max(0.0)) } else { ("n/a".to_string(), 0.0) };
        let (x1, _) = chart.backend_coord(&(end, y_of(i) + 0.5));
        root.draw(&Text::new(shown, (x1 + 5, y), anchored(HPos::Left))).map_err(plot_err)?;
    }
    Ok(())
}

/// One column per series: every sample as a dot (deterministic jitter), the box from p25 to
/// p75 with min..max whiskers, the median as a thick line, and under it the name, n and the
/// median.
fn distributions_chart(root: &DrawingArea<BitMapBackend<'_>, Shift>, title: &str, unit: &str, series: &[Series]) -> Result<()> {
    if series.is_empty() {
        bail!("a distribution chart without series");
    }
    let finite = |s: &Series| s.values.iter().copied().filter(|v| v.is_finite()).collect::<Vec<f64>>();
    let all: Vec<f64> = series.iter().flat_map(finite).collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (lo, hi) = if all.is_empty() { (0.0, 1.0) } else { (lo.min(0.0), if hi > lo { hi } else { lo + 1.0 }) };
    let top = hi + (hi - lo) * 0.08;
    let n = series.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(56)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n as f64, lo..top)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(unit)
        .label_style((FAMILY, 13))
        .y_label_formatter(&|v| fmt_num(*v))
        .draw()
        .map_err(plot_err)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i);
        let mid = i as f64 + 0.5;
        let vals = finite(s);
        // Deterministic jitter (a Weyl sequence), so the same samples draw the same picture.
        chart
            .draw_series(vals.iter().enumerate().map(|(k, v)| {
                let j = ((k as f64 * 0.618_033_988_75).fract() - 0.5) * 0.5;
                Circle::new((mid + j, *v), 3, color.mix(0.45).filled())
            }))
            .map_err(plot_err)?;
        if let Some(sum) = Summary::of(&vals) {
            let mut sorted = vals.clone();
            sorted.sort_by(f64::total_cmp);
            let q = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
            let (q1, q3) = (q(0.25), q(0.75));
            let black = BLACK.stroke_width(1);
            chart.draw_series([Rectangle::new([(mid - 0.3, q1), (mid + 0.3, q3)], black)]).map_err(plot_err)?;
            chart.draw_series([PathElement::new(vec![(mid, sum.min), (mid, q1)], black), PathElement::new(vec![(mid, q3), (mid, sum.max)], black)]).map_err(plot_err)?;
            chart
                .draw_series([
                    PathElement::new(vec![(mid - 0.1, sum.min), (mid + 0.1, sum.min)], black),
                    PathElement::new(vec![(mid - 0.1, sum.max), (mid + 0.1, sum.max)], black),
                ])
                .map_err(plot_err)?;
            chart.draw_series([PathElement::new(vec![(mid - 0.36, sum.median), (mid + 0.36, sum.median)], RED.stroke_width(3))]).map_err(plot_err)?;
        }
        let (x, y) = chart.backend_coord(&(mid, lo));
        let centered = |size: u32| TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(s.name.clone(), (x, y + 8), centered(13))).map_err(plot_err)?;
        let median = Summary::of(&vals).map(|m| fmt_num(m.median)).unwrap_or_else(|| "-".into());
        root.draw(&Text::new(format!("n={} median {median}", vals.len()), (x, y + 26), centered(11))).map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a PNG back: (width, height, distinct colours seen).
    fn decode(path: &Path) -> (u32, u32, usize) {
        let dec = png::Decoder::new(File::open(path).expect("open png"));
        let mut reader = dec.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("a PNG frame");
        let px: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        (info.width, info.height, px.len())
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vrrp-charts-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn bars_and_distributions_are_drawn_as_pngs_of_their_size() {
        let dir = scratch("draw");
        let bars = Chart::Bars {
            file: "bars.png".into(),
            title: "XDP cost per packet".into(),
            unit: "ns/packet".into(),
            bars: vec![("pass-only program (floor)".into(), 9.0), ("VRRPv2 advert, accepted".into(), 131.5), ("not measured".into(), f64::NAN)],
        };
        let dist = Chart::Distributions {
            file: "dist.png".into(),
            title: "outage".into(),
            unit: "ms".into(),
            series: vec![
                Series { name: "ours".into(), values: (0..20).map(|i| 40.0 + f64::from(i) * 0.3).collect() },
                Series { name: "keepalived".into(), values: (0..20).map(|i| 300.0 + f64::from(i) * 7.0).collect() },
                Series { name: "empty".into(), values: vec![] },
            ],
        };
        for c in [&bars, &dist] {
            let path = dir.join(c.file());
            draw(c, &path).expect("drawn");
            let (w, h, colours) = decode(&path);
            assert_eq!((w, h), size(c), "{}", c.file());
            // White background, bars/dots, black text and axes, anti-aliased text: many colours.
            assert!(colours > 10, "{}: only {colours} colours, nothing drawn?", c.file());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_chart_without_data_is_an_error_not_a_panic() {
        let dir = scratch("empty");
        let bars = Chart::Bars { file: "b.png".into(), title: "t".into(), unit: "u".into(), bars: vec![] };
        assert!(draw(&bars, &dir.join("b.png")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn numbers_are_shown_with_three_significant_digits() {
        assert_eq!(fmt_num(1234.4), "1234");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        assert_eq!(fmt_num(0.01234), "0.012");
        assert_eq!(fmt_num(20.0), "20");
    }
}
