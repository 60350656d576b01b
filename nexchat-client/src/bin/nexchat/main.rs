//! `nexchat`, the terminal client.

// The screen is written and tested ahead of the loop that connects it to the SDK's `Client`;
// until that loop calls it, only the tests use it. (`expect`, so that the compiler asks for
// this to go once the loop is there.)
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        unused_imports,
        reason = "the live loop that drives the TUI comes with the SDK's Client"
    )
)]
mod tui;

fn main() {}
