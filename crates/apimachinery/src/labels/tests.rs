//! Behaviour ported from upstream `labels/selector_test.go`.

use super::*;
use serde_json::json;

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn good_and_bad_strings() {
    for good in [
        "x=a,y=b,z=c",
        "",
        "x!=a,y=b",
        "x=",
        "x= ",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
        "x==a",
        "x in (a,b)",
        "x notin (a)",
        "  x  ",
        "w in (a) , x notin (b)",
        "x in (in,notin)",
        "notin=in",
    ] {
        assert!(Selector::parse(good).is_ok(), "{good:?}");
    }
    for bad in [
        "x=a||y=b",
        "x==a==b",
        "!x=a",
        "x<a",
        "x>",
        "x in",
        "x in (a",
        "x in a",
        "x,",
        ",x",
        "x=a,",
        "(x)",
        "a_b%=c",
        "x=a b",
        "x in (a b)",
    ] {
        assert!(Selector::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn matches_table() {
    let m = |s: &str, l: &[(&str, &str)]| {
        Selector::parse(s)
            .map(|sel| sel.matches(&set(l)))
            .unwrap_or(false)
    };
    assert!(m("", &[("x", "y")]));
    assert!(m("x=y", &[("x", "y")]));
    assert!(m("x=y,z=w", &[("x", "y"), ("z", "w")]));
    assert!(m("x!=y,z!=w", &[("x", "z"), ("z", "a")]));
    assert!(m("notin=in", &[("notin", "in")]));
    assert!(m("x", &[("x", "z")]));
    assert!(m("!x", &[("y", "z")]));
    assert!(m("x>1", &[("x", "2")]));
    assert!(m("x<1", &[("x", "0")]));
    assert!(m("x in (a,b)", &[("x", "b")]));
    assert!(m("x notin (a,b)", &[("y", "b")]));
    assert!(!m("x=z", &[]));
    assert!(!m("x=y", &[("x", "z")]));
    assert!(!m("x=y,z=w", &[("x", "w"), ("z", "w")]));
    assert!(!m("x!=y,z!=w", &[("x", "z"), ("z", "w")]));
    assert!(!m("x", &[("y", "z")]));
    assert!(!m("!x", &[("x", "z")]));
    assert!(!m("x>1", &[("x", "0")]));
    assert!(!m("x<1", &[("x", "2")]));
    assert!(!m("x>1", &[("x", "abc")]));
    assert!(!m("x notin (a,b)", &[("x", "a")]));
}

#[test]
fn string_round_trip_sorts_keys_and_values() {
    let s = Selector::parse("x in (foo,,baz),y,z notin ()").unwrap_or_else(|_| Selector::nothing());
    assert_eq!(s.to_string(), "x in (,baz,foo),y,z notin ()");
    let s = Selector::parse("z=1, !a ,b==2,c!=3, d>4").unwrap_or_else(|_| Selector::nothing());
    assert_eq!(s.to_string(), "!a,b==2,c!=3,d>4,z=1");
}

#[test]
fn error_messages_match_upstream() {
    let err = |s: &str| {
        Selector::parse(s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // The value is validated while the requirement is built, before the trailing '=' is seen.
    assert!(err("x=a||y=b").starts_with(
        "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label"
    ));
    assert_eq!(
        err("x==a==b"),
        "found '==', expected: ',' or 'end of string'"
    );
    assert_eq!(err("x,"), "found '', expected: identifier after ','");
    assert_eq!(
        err(",x"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        err("x in a"),
        "unable to parse requirement: found 'a' expected: '('"
    );
    assert_eq!(
        err("x ~ a"),
        "unable to parse requirement: found '~', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert!(err("a_b%").starts_with(
        "unable to parse requirement: <nil>: Invalid value: \"a_b%\": name part must consist of"
    ));
    assert!(err("x=a$").starts_with("unable to parse requirement: values[0][x]: Invalid value: \"a$\": a valid label must be an empty string"));
    assert_eq!(
        err("x>a"),
        "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
}

#[test]
fn label_selector_json() {
    assert_eq!(Selector::from_label_selector(None), Ok(Selector::Nothing));
    assert_eq!(
        Selector::from_label_selector(Some(&Value::Null)),
        Ok(Selector::Nothing)
    );
    let all = Selector::from_label_selector(Some(&json!({}))).unwrap_or(Selector::Nothing);
    assert!(all.is_empty() && all.matches(&set(&[])));
    assert!(!Selector::Nothing.matches(&set(&[])));
    let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["fe", "be"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "env", "operator": "Exists"}]});
    let s = Selector::from_label_selector(Some(&sel)).unwrap_or(Selector::Nothing);
    assert_eq!(s.to_string(), "app=web,!canary,env,tier in (be,fe)");
    assert!(s.matches(&set(&[("app", "web"), ("tier", "fe"), ("env", "x")])));
    assert!(!s.matches(&set(&[
        ("app", "web"),
        ("tier", "fe"),
        ("env", "x"),
        ("canary", "1")
    ])));
    let bad = json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]});
    assert_eq!(
        Selector::from_label_selector(Some(&bad))
            .err()
            .map(|e| e.to_string()),
        Some("\"Foo\" is not a valid label selector operator".to_owned())
    );
    let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
    assert_eq!(
        Selector::from_label_selector(Some(&empty_in)).err().map(|e| e.to_string()),
        Some("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty".to_owned())
    );
}

#[test]
fn formatting_helpers() {
    assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
    assert_eq!(format_labels(Some(&json!({}))), "<none>");
    assert_eq!(
        format_label_selector(Some(&json!({"matchLabels": {"app": "x"}}))),
        "app=x"
    );
    assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
    assert_eq!(format_label_selector(None), "<none>");
    assert!(Selector::parse("app=web")
        .map(|s| s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})))
        .unwrap_or(false));
}
