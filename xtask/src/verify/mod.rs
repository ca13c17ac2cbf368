//! stub
/// stub
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}
/// stub
pub fn run_cli(_a: &VerifyArgs) -> anyhow::Result<()> {
    Ok(())
}
