//! PNG charts for the report.
use std::path::Path;

use anyhow::Result;

use vrrp_tests::report::Chart;

/// Draws `chart` to `path`.
pub fn draw(_chart: &Chart, _path: &Path) -> Result<()> {
    // Drawn by the plotting crate once chosen (the bench skeleton has no charts yet).
    Ok(())
}
