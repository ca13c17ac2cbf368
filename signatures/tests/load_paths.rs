//! `add_path`: files, directories (only `*.rules`, sorted, not recursive), unreadable paths.

use std::fs;

use signatures::{RuleSetBuilder, Vars};

#[test]
fn directory_loads_rules_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("b.rules"),
        "alert tcp any any -> any any (sid:2;)\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("a.rules"),
        "# comment\nalert tcp any any -> any any (sid:1;)\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("c.txt"),
        "alert tcp any any -> any any (sid:3;)\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("sub.rules")).unwrap();
    fs::write(
        dir.path().join("sub.rules").join("d.rules"),
        "alert tcp any any -> any any (sid:4;)\n",
    )
    .unwrap();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_path(dir.path()).unwrap();
    let (rules, report) = b.build();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let sids: Vec<u32> = rules.rules().map(|m| m.sid).collect();
    assert_eq!(sids, [1, 2]);
    let a = dir.path().join("a.rules").display().to_string();
    assert_eq!(report.rules[0].location, format!("{a}:2"));
}

#[test]
fn single_file_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rules");
    fs::write(
        &file,
        "alert tcp any any -> any any (sid:1;)\nalert tcp any any oops any any (sid:2;)\n",
    )
    .unwrap();
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    b.add_path(&file).unwrap();
    let (rules, report) = b.build();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        report.errors[0].to_string(),
        format!(
            "{}:2:19: expected '->' or '<>', found 'oops'",
            file.display()
        )
    );
}

#[test]
fn unreadable_paths_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.rules");
    let mut b = RuleSetBuilder::new(Vars::suricata_defaults());
    let err = b.add_path(&missing).unwrap_err();
    assert_eq!(err.path, missing.display().to_string());
    assert!(err.to_string().starts_with("cannot read rules from "));
}
