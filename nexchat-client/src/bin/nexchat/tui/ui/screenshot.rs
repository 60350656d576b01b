//! The README's picture of the terminal client: the demo screen drawn at 100 × 30, kept as
//! plain text in `docs/screenshots/terminal.txt`. The test fails when the drawing and the file
//! differ; with `NEXCHAT_WRITE_SCREENSHOTS=1` it writes the file instead, so the picture can
//! never go stale. The README shows the same text, which the test checks too.

use crate::tui::testing::{demo, render, screen};

const PICTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/screenshots/terminal.txt"
);
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

#[test]
fn the_readme_picture_is_the_screen_as_drawn() {
    let drawn = screen(&render(&demo(), 100, 30)) + "\n";
    if std::env::var_os("NEXCHAT_WRITE_SCREENSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(PICTURE, &drawn).expect("writing the picture");
        return;
    }
    let kept = std::fs::read_to_string(PICTURE).unwrap_or_default();
    assert!(
        kept == drawn,
        "{PICTURE} is not the screen as drawn; run the test with NEXCHAT_WRITE_SCREENSHOTS=1 \
         to write it, and look at the difference.\n\ndrawn:\n{drawn}"
    );
    let readme = std::fs::read_to_string(README).expect("the README");
    assert!(
        readme.contains(&format!("```text\n{drawn}```")),
        "README.md's picture of the terminal client is not {PICTURE}: copy it in"
    );
}
