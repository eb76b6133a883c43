//! Figure: see main.rs's FIGURES.
use anyhow::{Result, bail};

use vrrp_tests::report::Section;

use crate::Ctx;

pub fn run(_ctx: &Ctx) -> Result<Section> {
    bail!("not measured yet")
}
