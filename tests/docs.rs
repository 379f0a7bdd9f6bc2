//! The documents stay whole: every relative link in README.md, ARCHITECTURE.md and docs/*.md names a file
//! that exists, and every `#anchor` a heading of the page it points to; the README stays a tour (at most
//! 250 lines) and lists every column the report has.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The documents whose links are checked.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut docs = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("a docs/ directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// The text of a Markdown page that is prose: without fenced code blocks, inline code and HTML comments
/// (a `[x](y)` in an example is not a link). Line breaks are kept.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            out.push_str(line);
        }
        out.push('\n');
    }
    let mut s = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("<!--") {
        s.push_str(&rest[..start]);
        rest = rest[start..]
            .find("-->")
            .map_or("", |end| &rest[start + end + 3..]);
    }
    s.push_str(rest);
    // Inline code spans: drop what is between backticks.
    s.split('`')
        .enumerate()
        .filter(|(k, _)| k % 2 == 0)
        .map(|(_, t)| t)
        .collect()
}

/// The targets of the inline links `[text](target)` of a page.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].trim().to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, a
/// repeated heading numbered (`-1`, `-2`).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while !seen.insert(unique.clone()) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
    }
    seen
}

/// What is wrong with the links of the page at `page` whose text is `text`, one line each.
fn broken_links(page: &Path, text: &str) -> Vec<String> {
    let dir = page.parent().expect("a page is in a directory");
    let mut broken = Vec::new();
    for link in links(text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match link.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (link.as_str(), None),
        };
        let target = if path.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(path)
        };
        if !target.exists() {
            broken.push(format!("{}: {link}: no such file", page.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        let target_text = if path.is_empty() {
            text.to_string()
        } else {
            match std::fs::read_to_string(&target) {
                Ok(t) => t,
                Err(e) => {
                    broken.push(format!("{}: {link}: {e}", page.display()));
                    continue;
                }
            }
        };
        if !anchors(&target_text).contains(anchor) {
            broken.push(format!("{}: {link}: no heading #{anchor}", page.display()));
        }
    }
    broken
}

#[test]
fn every_link_of_the_documents_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in documents() {
        let text = std::fs::read_to_string(&page).expect("a readable page");
        checked += links(&text).len();
        broken.extend(broken_links(&page, &text));
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    // The documents do link to each other (a parser that found nothing would pass anything).
    assert!(checked > 40, "only {checked} links found");
}

/// The checker finds what it is for: a missing file, a missing heading, on this page or another; and it
/// reads past code and comments.
#[test]
fn the_link_check_catches_broken_links() {
    let page = Path::new(ROOT).join("README.md");
    let text = "# Title\n\n## Exit status\n\n[ok](#exit-status) [ok](docs/README.md) \
                [ok](ARCHITECTURE.md#layers) [web](https://example.com/x#y)\n\
                [gone](docs/nothing.md) [bad](#no-such-heading) [bad](docs/report.md#nowhere)\n\
                ```\n[in code](nothing.md)\n```\n`[inline](nothing.md)` <!-- [comment](nothing.md) -->\n";
    let broken = broken_links(&page, text);
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(broken[0].ends_with("docs/nothing.md: no such file"));
    assert!(broken[1].ends_with("#no-such-heading: no heading #no-such-heading"));
    assert!(broken[2].ends_with("docs/report.md#nowhere: no heading #nowhere"));
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let a = anchors(
        "# The loop: find, remove, verify\n## 429, 503 and Retry-After\n## Waits past `--max-wait`\n## Notes\n## Notes\n",
    );
    for want in [
        "the-loop-find-remove-verify",
        "429-503-and-retry-after",
        "waits-past---max-wait",
        "notes",
        "notes-1",
    ] {
        assert!(a.contains(want), "{want} not in {a:?}");
    }
}

/// The README is a tour a newcomer reads in ten minutes; the rest belongs in docs/.
#[test]
fn the_readme_stays_a_tour() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: move detail into docs/"
    );
}

/// Every column the report writes is documented, in the README's table and in docs/report.md.
#[test]
fn every_report_column_is_documented() {
    for page in ["README.md", "docs/report.md"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(page)).unwrap();
        for column in okta_org::report::COLUMNS {
            assert!(
                text.contains(&format!("| `{column}` |")),
                "{page} does not document the report column {column}"
            );
        }
    }
}
