//! `ferrokube bench`: built-in benchmarks.

/// Flags of `ferrokube bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to measure.
    pub what: String,
}

/// Runs a benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("unknown benchmark {:?}", args.what)
}
