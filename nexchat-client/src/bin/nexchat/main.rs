//! `nexchat`, the terminal client.

fn main() {}
