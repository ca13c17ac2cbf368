//! One suricata-verify case: discovery, and the decision — made *before*
//! running anything expensive — whether we can meaningfully run it.
//!
//! A case we cannot judge fairly (needs Lua, an IPS mode, `dns` events, a
//! rule keyword we do not implement, ...) is skipped with a reason instead of
//! counted as a failure, so the fail count measures real bugs and the skip
//! histogram measures missing features.

use super::checks::{yaml_scalar_string, Filter};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Suricata version we claim to behave like for `requires:` gating.
/// The corpus is suricata-verify master (9.0.0-dev); the sensor follows Suricata 7.0.10, the
/// oracle installed here (EVE dns v2, 7.0 buffer semantics), so cases written for 8+ are
/// skipped and those kept for 7 run.
pub const EMULATED_VERSION: (u64, u64, u64) = (7, 0, 10);

/// How long `sensor rules check` may take for one case.
const RULES_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// A test directory (it has a test.yaml).
#[derive(Debug, Clone)]
pub struct Case {
    /// Path below `tests/`, e.g. `dns/dns-udp-1`; the name used everywhere.
    pub name: String,
    /// The directory holding test.yaml.
    pub dir: PathBuf,
}

/// What to run for a case that is not skipped.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Capture to replay.
    pub pcap: PathBuf,
    /// Rules file, if the case has one.
    pub rules: Option<PathBuf>,
    /// The filter checks to evaluate on eve.json.
    pub filters: Vec<Filter>,
}

/// Find every directory under `tests_root` that holds a test.yaml, sorted by name.
pub fn discover(tests_root: &Path) -> std::io::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut stack = vec![tests_root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            }
        }
        if dir != tests_root && dir.join("test.yaml").is_file() {
            let name = dir
                .strip_prefix(tests_root)
                .unwrap_or(&dir)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            cases.push(Case { name, dir });
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// Parse a version like `7`, `8.0`, `7.0.14` (missing parts are 0).
fn parse_version(v: &Yaml) -> Option<(u64, u64, u64)> {
    let text = yaml_scalar_string(v);
    let mut parts = text.trim().split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Why a `requires:` block is not satisfied by us, if it is not.
pub fn unmet_requirement(requires: &Yaml) -> Option<String> {
    let Yaml::Mapping(map) = requires else {
        return None;
    };
    for (key, val) in map {
        let key = yaml_scalar_string(key);
        let version = || parse_version(val);
        let shown = yaml_scalar_string(val);
        match key.as_str() {
            "min-version" => match version() {
                Some(v) if EMULATED_VERSION >= v => {}
                _ => return Some(format!("requires min-version {shown}")),
            },
            "lt-version" => match version() {
                Some(v) if EMULATED_VERSION < v => {}
                _ => return Some(format!("requires lt-version {shown}")),
            },
            "gt-version" => match version() {
                Some(v) if EMULATED_VERSION > v => {}
                _ => return Some(format!("requires gt-version {shown}")),
            },
            "version" => match version() {
                Some(v) if v.0 == EMULATED_VERSION.0 => {}
                _ => return Some(format!("requires version {shown}")),
            },
            "features" => {
                let first = match val {
                    Yaml::Sequence(items) => items.first().map(yaml_scalar_string),
                    other => Some(yaml_scalar_string(other)),
                };
                if let Some(feature) = first {
                    return Some(format!("requires feature {feature}"));
                }
            }
            "env" => {
                if let Yaml::Sequence(items) = val {
                    for item in items {
                        let var = yaml_scalar_string(item);
                        if std::env::var_os(&var).is_none() {
                            return Some(format!("requires env {var}"));
                        }
                    }
                }
            }
            "os" => {
                if !std::env::consts::OS.starts_with(&shown.to_lowercase()) {
                    return Some(format!("requires os {shown}"));
                }
            }
            "arch" => {
                if !std::env::consts::ARCH.starts_with(&shown.to_lowercase()) {
                    return Some(format!("requires arch {shown}"));
                }
            }
            "script" => return Some("requires script (Suricata source tree)".to_string()),
            "lambda" => return Some("requires lambda".to_string()),
            "files" | "pcap" => {}
            other => return Some(format!("requires {other}")),
        }
    }
    None
}

/// Decide from test.yaml alone: `Err(reason)` to skip, else the checks and inputs.
pub fn plan_from_yaml(case: &Case, yaml: &Yaml) -> Result<RunPlan, String> {
    if !matches!(yaml, Yaml::Mapping(_)) {
        return Err("test.yaml is not a mapping".to_string());
    }
    match yaml.get("skip") {
        Some(Yaml::Bool(true)) => return Err("skipped by default".to_string()),
        Some(Yaml::Sequence(_)) => return Err("conditional skip: block".to_string()),
        _ => {}
    }
    if let Some(requires) = yaml.get("requires") {
        if let Some(reason) = unmet_requirement(requires) {
            return Err(reason);
        }
        if let Some(Yaml::Sequence(files)) = requires.get("files") {
            for f in files {
                let f = yaml_scalar_string(f);
                if !case.dir.join(&f).exists() && !Path::new(&f).exists() {
                    return Err(format!("requires file {f}"));
                }
            }
        }
    }
    if yaml.get("command").is_some() {
        return Err("custom command".to_string());
    }
    let args = match yaml.get("args") {
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(yaml_scalar_string)
            .collect::<Vec<_>>()
            .join(" "),
        Some(other) => yaml_scalar_string(other),
        None => String::new(),
    };
    if args.contains("--simulate-ips") {
        return Err("needs IPS mode (--simulate-ips)".to_string());
    }
    if args.contains("threshold-file") {
        return Err("needs threshold.config".to_string());
    }
    let filters = plan_checks(yaml.get("checks"))?;
    let pcap = find_pcap(case, yaml)?;
    let rules = find_rules(case, yaml)?;
    Ok(RunPlan {
        pcap,
        rules,
        filters,
    })
}

fn plan_checks(checks: Option<&Yaml>) -> Result<Vec<Filter>, String> {
    let Some(Yaml::Sequence(checks)) = checks else {
        return Err("no checks".to_string());
    };
    let mut filters = Vec::new();
    for check in checks {
        let Yaml::Mapping(map) = check else {
            return Err("check is not a mapping".to_string());
        };
        for (kind, body) in map {
            match yaml_scalar_string(kind).as_str() {
                "filter" => {
                    if let Some(requires) = body.get("requires") {
                        if unmet_requirement(requires).is_some() {
                            continue; // upstream skips just this check
                        }
                    }
                    if let Some(file) = body.get("filename") {
                        let file = yaml_scalar_string(file);
                        if file != "eve.json" {
                            return Err(format!("needs output file {file}"));
                        }
                    }
                    let filter = Filter::from_yaml(body).map_err(|e| format!("odd filter: {e}"))?;
                    if !filter.is_evaluable() {
                        return Err(match filter.event_type() {
                            Some(et) => format!("needs event_type {et}"),
                            None => {
                                "needs non-alert records (filter without event_type)".to_string()
                            }
                        });
                    }
                    filters.push(filter);
                }
                "shell" => return Err("needs shell check".to_string()),
                "stats" => return Err("needs stats check".to_string()),
                other => return Err(format!("needs {other} check")),
            }
        }
    }
    if filters.is_empty() {
        return Err("no applicable checks".to_string());
    }
    Ok(filters)
}

fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| exts.contains(&e))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn find_pcap(case: &Case, yaml: &Yaml) -> Result<PathBuf, String> {
    match yaml.get("pcap") {
        Some(Yaml::Bool(false)) => Err("no pcap (pcap: false)".to_string()),
        Some(Yaml::String(rel)) => {
            let path = case.dir.join(rel);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("pcap {rel} missing"))
            }
        }
        _ => {
            let mut pcaps = files_with_ext(&case.dir, &["pcap", "pcapng"]);
            match pcaps.len() {
                0 => Err("no pcap".to_string()),
                1 => Ok(pcaps.remove(0)),
                n => Err(format!("{n} pcaps and no pcap: key")),
            }
        }
    }
}

fn find_rules(case: &Case, yaml: &Yaml) -> Result<Option<PathBuf>, String> {
    match yaml.get("rules") {
        Some(Yaml::String(rel)) if !rel.trim().is_empty() => {
            let path = case.dir.join(rel);
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err(format!("rules file {rel} missing"))
            }
        }
        Some(Yaml::Null | Yaml::Bool(false)) => Ok(None),
        Some(Yaml::String(_)) => Ok(None),
        Some(_) => Err("rules: key is not a file name".to_string()),
        None => {
            let mut rules = files_with_ext(&case.dir, &["rules"]);
            match rules.len() {
                0 => Ok(None),
                1 => Ok(Some(rules.remove(0))),
                _ => Err("needs firewall mode (several rule files)".to_string()),
            }
        }
    }
}

/// Ask the sensor whether it loads every rule; `Err(reason)` to skip the case.
pub fn check_rules(sensor: &Path, rules: &Path, scratch: &Path) -> Result<(), RulesVerdict> {
    let out_path = scratch.join("rules-check.json");
    let err_path = scratch.join("rules-check.stderr");
    let stdout =
        std::fs::File::create(&out_path).map_err(|e| RulesVerdict::Broken(e.to_string()))?;
    let stderr =
        std::fs::File::create(&err_path).map_err(|e| RulesVerdict::Broken(e.to_string()))?;
    let mut cmd = Command::new(sensor);
    cmd.args(["rules", "check", "--rules"])
        .arg(rules)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let status =
        super::run_with_timeout(&mut cmd, RULES_CHECK_TIMEOUT).map_err(RulesVerdict::Broken)?;
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    // Exit 1 only says some rules were not loaded active; the report says which.
    if !status.success() && status.code() != Some(1) {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        return Err(RulesVerdict::Broken(format!(
            "`sensor rules check` exited with {status}: {last}"
        )));
    }
    let report: Json = serde_json::from_str(text.trim()).map_err(|e| {
        RulesVerdict::Broken(format!(
            "`sensor rules check --json` printed invalid JSON: {e}"
        ))
    })?;
    match rules_skip_reason(&report) {
        Some(reason) => Err(RulesVerdict::Skip(reason)),
        None => Ok(()),
    }
}

/// Outcome of a rules check that does not clear the case to run.
#[derive(Debug)]
pub enum RulesVerdict {
    /// Skip the case with this reason.
    Skip(String),
    /// The sensor could not check the rules at all (a failure of ours).
    Broken(String),
}

/// From a `rules check --json` report: why to skip, if any rule was rejected or skipped.
pub fn rules_skip_reason(report: &Json) -> Option<String> {
    if let Some(first) = report
        .get("errors")
        .and_then(Json::as_array)
        .and_then(|e| e.first())
    {
        let msg = first
            .get("message")
            .and_then(Json::as_str)
            .unwrap_or("unparsable rule");
        return Some(format!("rule error: {msg}"));
    }
    let mut reasons: Vec<(String, u64)> = report
        .get("unsupported")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(1)))
                .collect()
        })
        .unwrap_or_default();
    if reasons.is_empty() {
        if let Some(rules) = report.get("rules").and_then(Json::as_array) {
            for r in rules {
                if let Some(why) = r.get("skipped").and_then(Json::as_str) {
                    match reasons.iter_mut().find(|(k, _)| k == why) {
                        Some(entry) => entry.1 += 1,
                        None => reasons.push((why.to_string(), 1)),
                    }
                }
            }
        }
    }
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if let Some((why, _)) = reasons.first() {
        return Some(format!("unsupported: {why}"));
    }
    // Rules loaded inactive need an app-layer parser the sensor does not have yet.
    let mut inactive: Vec<(String, u64)> = report
        .get("inactive_reasons")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(1)))
                .collect()
        })
        .unwrap_or_default();
    inactive.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    inactive
        .first()
        .map(|(why, _)| format!("needs app-layer: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case() -> Case {
        Case {
            name: "t".into(),
            dir: PathBuf::from("/nonexistent"),
        }
    }

    fn yaml(text: &str) -> Yaml {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn version_requirements() {
        // We follow Suricata 7.0.10.
        assert_eq!(unmet_requirement(&yaml("min-version: 7")), None);
        assert_eq!(unmet_requirement(&yaml("gt-version: 6.0.11")), None);
        assert_eq!(unmet_requirement(&yaml("lt-version: 8")), None);
        assert!(unmet_requirement(&yaml("min-version: 8.0.0")).is_some());
        assert!(unmet_requirement(&yaml("min-version: 7.0.11")).is_some());
        assert_eq!(
            unmet_requirement(&yaml("features:\n  - HAVE_LUA")).as_deref(),
            Some("requires feature HAVE_LUA")
        );
    }

    #[test]
    fn skips_decided_from_yaml() {
        let skip = |t: &str| plan_from_yaml(&case(), &yaml(t)).err().unwrap_or_default();
        assert_eq!(
            skip("checks:\n  - filter: {count: 1, match: {event_type: fileinfo}}"),
            "needs event_type fileinfo"
        );
        assert_eq!(
            skip("checks:\n  - shell: {args: x, expect: 1}"),
            "needs shell check"
        );
        assert_eq!(
            skip("args: [--simulate-ips]\nchecks: []"),
            "needs IPS mode (--simulate-ips)"
        );
        assert_eq!(
            skip("requires: {features: [HAVE_JA3]}\nchecks: []"),
            "requires feature HAVE_JA3"
        );
        // A check gated on min-version 8 is dropped, leaving none.
        assert_eq!(
            skip("checks:\n  - filter: {requires: {min-version: 8}, count: 1, match: {event_type: alert}}"),
            "no applicable checks"
        );
        // Alert-only checks pass the yaml stage and fail later only for the missing pcap.
        assert_eq!(
            skip("checks:\n  - filter: {count: 1, match: {alert.signature_id: 1}}"),
            "no pcap"
        );
    }

    #[test]
    fn rules_check_reasons() {
        let ok = json!({"loaded":2,"errors":[],"unsupported":{},"rules":[{"sid":1,"location":"a:1","skipped":null}]});
        assert_eq!(rules_skip_reason(&ok), None);
        let unsupported = json!({"loaded":1,"errors":[],"unsupported":{"keyword pcre":1,"keyword http.uri":3},"rules":[]});
        assert_eq!(
            rules_skip_reason(&unsupported).as_deref(),
            Some("unsupported: keyword http.uri")
        );
        let only_rules = json!({"loaded":1,"errors":[],"rules":[{"sid":2,"location":"f:9","skipped":"keyword pcre"}]});
        assert_eq!(
            rules_skip_reason(&only_rules).as_deref(),
            Some("unsupported: keyword pcre")
        );
        let inactive = json!({"rules_loaded":1,"errors":[],"unsupported":{},"inactive_reasons":{"buffer http.uri":2},"rules":[]});
        assert_eq!(
            rules_skip_reason(&inactive).as_deref(),
            Some("needs app-layer: buffer http.uri")
        );
        let err = json!({"loaded":0,"errors":[{"location":"f:1:3","message":"bad header"}]});
        assert_eq!(
            rules_skip_reason(&err).as_deref(),
            Some("rule error: bad header")
        );
    }

    #[test]
    fn real_corpus_yaml_never_panics() {
        let root = crate::paths::verify_corpus().join("tests");
        let Ok(cases) = discover(&root) else { return };
        for c in cases {
            let text = std::fs::read_to_string(c.dir.join("test.yaml")).unwrap();
            if let Ok(y) = serde_yaml::from_str::<Yaml>(&text) {
                let _ = plan_from_yaml(&c, &y);
            }
        }
    }
}
