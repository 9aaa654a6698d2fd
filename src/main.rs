//! `inside-gpt`, the native command line: `src/cli.rs`. Not in the wasm build (`wasm-pack test`
//! compiles every target for wasm32, and clap is a host-only dependency).

#[cfg(not(target_arch = "wasm32"))]
mod cli;

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    cli::main();
}
