//! The `ferrokube` binary: one command line for every role.

/// mimalloc instead of glibc malloc: the API server allocates and frees many small JSON nodes
/// from many threads, where glibc's arenas spent about a quarter of the server's CPU (malloc,
/// free, consolidation) under the scheduler benchmark. Built as mimalloc v2 without transparent
/// huge pages (Cargo features): v3 and huge pages both grew an idle agent's resident set.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    ferrokube::cli::main()
}
