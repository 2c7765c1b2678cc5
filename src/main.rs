//! The `ferrokube` binary: one command line for every role.

fn main() -> anyhow::Result<()> {
    ferrokube::cli::main()
}
