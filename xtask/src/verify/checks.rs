//! Evaluation of suricata-verify `filter` checks against EVE records.
//!
//! Semantics follow upstream suricata-verify's run.py (FilterCheck and
//! find_value), reimplemented here from its documented behaviour:
//! * a key is a dotted path into the record, each part optionally indexed
//!   with `[i]`; a missing field (or JSON null) reads as "absent";
//! * `path.__len` yields the length of a string/array/object (-1 otherwise);
//! * `__find`/`__contains`/`__startswith`/`__endswith` are substring tests
//!   (`__contains` also tests array membership);
//! * `__gt`/`__gte`/`__lt`/`__lte` compare numbers only (never booleans);
//! * `has-key`/`not-has-key` take one path or a list of paths;
//! * everything else is equality with Python semantics: `1 == 1.0`,
//!   `true == 1`, but a string never equals a number (`"1" != 1`, as
//!   upstream, which only prints a warning in that case);
//! * the check passes when the number of matching records equals `count`.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// EVE event types the sensor writes today; checks on others are skipped.
pub const PRODUCED_EVENT_TYPES: &[&str] = &["alert", "flow", "stats", "dns", "http", "tls"];

/// One `filter` check: an exact record count and the conditions a record must meet.
#[derive(Debug, Clone)]
pub struct Filter {
    /// How many records must match.
    pub count: u64,
    /// `(key, expected)` pairs, in the order written in test.yaml.
    pub conditions: Vec<(String, Json)>,
}

/// Convert a YAML value into the JSON value it denotes (lenient: odd keys are
/// stringified, tags are dropped).
pub fn yaml_to_json(v: &Yaml) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Json::Null, Json::Number)
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (yaml_scalar_string(k), yaml_to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// A YAML scalar rendered as the string a human wrote (used for keys and versions).
pub fn yaml_scalar_string(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

impl Filter {
    /// Parse the body of a `filter:` check (the mapping with `count` and `match`).
    pub fn from_yaml(body: &Yaml) -> Result<Self, String> {
        let count = match body.get("count") {
            Some(Yaml::Number(n)) => n.as_u64().ok_or_else(|| format!("bad count {n}"))?,
            Some(other) => return Err(format!("bad count {}", yaml_scalar_string(other))),
            None => return Err("filter without count".to_string()),
        };
        let conditions = match body.get("match") {
            Some(Yaml::Mapping(map)) => map
                .iter()
                .map(|(k, v)| (yaml_scalar_string(k), yaml_to_json(v)))
                .collect(),
            Some(Yaml::Null) | None => Vec::new(),
            Some(_) => return Err("filter match is not a mapping".to_string()),
        };
        Ok(Self { count, conditions })
    }

    /// The `event_type` this filter is restricted to, if it names one.
    pub fn event_type(&self) -> Option<&str> {
        self.conditions
            .iter()
            .find(|(k, _)| k == "event_type")
            .and_then(|(_, v)| v.as_str())
    }

    /// Whether this filter can only ever match records of types the sensor
    /// produces ([`PRODUCED_EVENT_TYPES`]): it names such an `event_type`, or
    /// it has no event_type and all its keys are fields of such records
    /// (`alert.*`, `flow.*`).
    pub fn is_evaluable(&self) -> bool {
        let produced_field = |s: &str| {
            PRODUCED_EVENT_TYPES
                .iter()
                .any(|t| s.strip_prefix(t).is_some_and(|rest| rest.starts_with('.')))
        };
        match self.event_type() {
            Some(et) => PRODUCED_EVENT_TYPES.contains(&et),
            None => {
                !self.conditions.is_empty()
                    && self.conditions.iter().all(|(k, v)| match k.as_str() {
                        "has-key" | "not-has-key" => match v {
                            Json::String(s) => produced_field(s),
                            Json::Array(items) => {
                                items.iter().all(|i| i.as_str().is_some_and(produced_field))
                            }
                            _ => false,
                        },
                        key => produced_field(key),
                    })
            }
        }
    }

    /// Count the records that satisfy every condition.
    pub fn matching(&self, records: &[Json]) -> u64 {
        records.iter().filter(|r| self.matches(r)).count() as u64
    }

    /// Short human description, e.g. `event_type=alert alert.signature_id=2`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .conditions
            .iter()
            .map(|(k, v)| {
                let shown = match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let len = shown.chars().count();
                if len > 48 {
                    let head: String = shown.chars().take(40).collect();
                    format!("{k}={head}...({len} chars)")
                } else {
                    format!("{k}={shown}")
                }
            })
            .collect();
        if parts.is_empty() {
            "(any record)".to_string()
        } else {
            parts.join(" ")
        }
    }

    /// Whether one record satisfies every condition.
    pub fn matches(&self, record: &Json) -> bool {
        self.conditions
            .iter()
            .all(|(key, expected)| condition_holds(record, key, expected))
    }
}

/// String operators whose argument is matched against the value at the path.
const STRING_OPS: [&str; 4] = ["__find", "__contains", "__startswith", "__endswith"];
/// Numeric comparison operators.
const CMP_OPS: [&str; 4] = ["__gt", "__gte", "__lt", "__lte"];

fn condition_holds(record: &Json, key: &str, expected: &Json) -> bool {
    match key {
        "has-key" => paths_of(expected)
            .iter()
            .all(|p| find_value(p, record).is_some()),
        "not-has-key" => paths_of(expected)
            .iter()
            .all(|p| find_value(p, record).is_none()),
        _ => {
            let val = find_value(key, record);
            let op = key.rsplit('.').next().unwrap_or_default();
            if STRING_OPS.contains(&op) {
                string_op(op, val.as_ref(), expected)
            } else if CMP_OPS.contains(&op) {
                compare(op, val.as_ref(), expected)
            } else {
                py_eq(val.as_ref(), expected)
            }
        }
    }
}

fn paths_of(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Resolve a dotted path; `None` when absent or null. `__len` yields a length,
/// an operator suffix stops the walk and returns the value reached so far.
pub fn find_value(path: &str, record: &Json) -> Option<Json> {
    let mut obj = record;
    for part in path.split('.') {
        if part == "__len" {
            let len = match obj {
                Json::String(s) => s.chars().count() as i64,
                Json::Array(a) => a.len() as i64,
                Json::Object(o) => o.len() as i64,
                _ => -1,
            };
            return Some(Json::from(len));
        }
        if STRING_OPS.contains(&part) || CMP_OPS.contains(&part) {
            break;
        }
        let (name, index) = split_index(part);
        obj = obj.as_object()?.get(name)?;
        if let Some(i) = index {
            obj = obj.as_array()?.get(i)?;
        }
    }
    if obj.is_null() {
        None
    } else {
        Some(obj.clone())
    }
}

/// `name[3]` -> (`name`, Some(3)); anything else -> (part, None).
fn split_index(part: &str) -> (&str, Option<usize>) {
    if let Some(stripped) = part.strip_suffix(']') {
        if let Some((name, idx)) = stripped.rsplit_once('[') {
            if !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(i) = idx.parse() {
                    return (name, Some(i));
                }
            }
        }
    }
    (part, None)
}

fn string_op(op: &str, val: Option<&Json>, expected: &Json) -> bool {
    match (op, val, expected) {
        ("__contains", Some(Json::Array(items)), e) => items.iter().any(|i| py_eq(Some(i), e)),
        ("__contains", Some(Json::Object(map)), Json::String(e)) => map.contains_key(e),
        (_, Some(Json::String(v)), Json::String(e)) => match op {
            "__startswith" => v.starts_with(e.as_str()),
            "__endswith" => v.ends_with(e.as_str()),
            _ => v.contains(e.as_str()),
        },
        _ => false,
    }
}

fn compare(op: &str, val: Option<&Json>, expected: &Json) -> bool {
    let (Some(Json::Number(a)), Json::Number(b)) = (val, expected) else {
        return false;
    };
    let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
        return false;
    };
    match op {
        "__gt" => a > b,
        "__gte" => a >= b,
        "__lt" => a < b,
        _ => a <= b,
    }
}

/// A JSON number or boolean as f64, the way Python compares them.
fn numeric(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Python `==` between a value decoded from JSON and one decoded from YAML.
fn py_eq(actual: Option<&Json>, expected: &Json) -> bool {
    match (actual, expected) {
        (None, Json::Null) => true,
        (None, _) | (Some(_), Json::Null) => false,
        (Some(Json::Number(a)), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (a.as_u64(), b.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            },
        },
        (Some(a @ (Json::Number(_) | Json::Bool(_))), b @ (Json::Number(_) | Json::Bool(_))) => {
            numeric(a) == numeric(b)
        }
        (Some(Json::String(a)), Json::String(b)) => a == b,
        (Some(Json::Array(a)), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| py_eq(Some(x), y))
        }
        (Some(Json::Object(a)), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| py_eq(Some(x), y)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(yaml: &str) -> Filter {
        let v: Yaml = serde_yaml::from_str(yaml).unwrap();
        Filter::from_yaml(&v).unwrap()
    }

    fn alert() -> Json {
        json!({"timestamp":"2023-11-14T22:13:20.001000+0000","flow_id":123,"pcap_cnt":4,
               "event_type":"alert","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"10.0.0.2",
               "dest_port":80,"proto":"TCP","vlan":[100,200],
               "alert":{"action":"allowed","gid":1,"signature_id":1000001,"rev":1,
                        "signature":"DEMO test signature","category":"x","severity":2},
               "flow":{"age":2.0,"bytes":99}})
    }

    #[test]
    fn simple_equality_and_count() {
        let f = filter(
            "count: 1\nmatch:\n  event_type: alert\n  alert.signature_id: 1000001\n  pcap_cnt: 4\n",
        );
        let other = json!({"event_type":"dns","dns":{"rrname":"x"}});
        assert_eq!(f.matching(&[alert(), other]), 1);
        assert!(f.is_evaluable());
    }

    #[test]
    fn numbers_compare_numerically_strings_do_not() {
        assert!(filter("count: 1\nmatch: {flow.age: 2}").matches(&alert()));
        assert!(filter("count: 1\nmatch: {alert.rev: 1.0}").matches(&alert()));
        assert!(!filter("count: 1\nmatch: {alert.rev: \"1\"}").matches(&alert()));
        assert!(!filter("count: 1\nmatch: {proto: 6}").matches(&alert()));
    }

    #[test]
    fn indexes_len_and_string_operators() {
        let r = alert();
        assert!(filter("count: 1\nmatch:\n  vlan[0]: 100\n  vlan[1]: 200\n").matches(&r));
        assert!(!filter("count: 1\nmatch:\n  vlan[2]: 300\n").matches(&r));
        assert!(filter("count: 1\nmatch: {vlan.__len: 2}").matches(&r));
        assert!(filter("count: 1\nmatch: {alert.signature.__startswith: DEMO}").matches(&r));
        assert!(filter("count: 1\nmatch: {alert.signature.__endswith: signature}").matches(&r));
        assert!(filter("count: 1\nmatch: {alert.signature.__find: test}").matches(&r));
        assert!(filter("count: 1\nmatch: {alert.signature.__contains: test}").matches(&r));
        assert!(filter("count: 1\nmatch: {vlan.__contains: 200}").matches(&r));
        assert!(!filter("count: 1\nmatch: {missing.__contains: x}").matches(&r));
    }

    #[test]
    fn comparisons_are_numeric_only() {
        let r = alert();
        assert!(filter("count: 1\nmatch: {flow.age.__gte: 2, flow.bytes.__lt: 100}").matches(&r));
        assert!(!filter("count: 1\nmatch: {flow.age.__gt: 2}").matches(&r));
        assert!(filter("count: 1\nmatch: {pcap_cnt.__lte: 4}").matches(&r));
        assert!(!filter("count: 1\nmatch: {proto.__gt: 1}").matches(&r));
    }

    #[test]
    fn has_key_and_not_has_key() {
        let r = alert();
        assert!(filter("count: 1\nmatch: {has-key: alert.rev}").matches(&r));
        assert!(filter("count: 1\nmatch: {has-key: [alert.rev, vlan]}").matches(&r));
        assert!(!filter("count: 1\nmatch: {has-key: [alert.rev, tx_id]}").matches(&r));
        assert!(filter("count: 1\nmatch: {not-has-key: tx_id}").matches(&r));
        assert!(!filter("count: 1\nmatch: {not-has-key: [tx_id, vlan]}").matches(&r));
    }

    #[test]
    fn alert_only_detection() {
        assert!(filter("count: 0\nmatch: {alert.signature_id: 2}").is_evaluable());
        assert!(filter("count: 1\nmatch: {event_type: dns}").is_evaluable());
        assert!(!filter("count: 1\nmatch: {event_type: fileinfo}").is_evaluable());
        assert!(!filter("count: 1\nmatch: {app_proto: http}").is_evaluable());
        assert!(
            filter("count: 1\nmatch: {event_type: flow, flow.reason: shutdown}").is_evaluable()
        );
        assert!(filter("count: 1\nmatch: {flow.alerted: true}").is_evaluable());
        assert!(
            Filter::from_yaml(&serde_yaml::from_str::<Yaml>("match: {a: 1}").unwrap()).is_err()
        );
    }

    #[test]
    fn null_matches_absent() {
        assert!(filter("count: 1\nmatch: {tx_id: null}").matches(&alert()));
        assert!(!filter("count: 1\nmatch: {pcap_cnt: null}").matches(&alert()));
    }
}
