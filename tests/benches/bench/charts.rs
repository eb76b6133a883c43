//! PNG charts for the report: drawn by `vrrp_tests::charts` (unit-tested there, where
//! `cargo xtask test` runs it).
use std::path::Path;

use anyhow::Result;

use vrrp_tests::report::Chart;

/// Draws `chart` to `path`.
pub fn draw(chart: &Chart, path: &Path) -> Result<()> {
    vrrp_tests::charts::draw(chart, path)
}
