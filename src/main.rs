//! The `ferrokube` binary: one command line for every role.

/// mimalloc instead of glibc malloc: the API server allocates and frees many small JSON nodes
/// from many threads, where glibc's arenas spent about a quarter of the server's CPU (malloc,
/// free, consolidation) under the scheduler benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    ferrokube::cli::main()
}
