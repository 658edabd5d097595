//! Statement caches and affinity routing (`pool.affinity`): routing raises
//! the hit rate, misses cost `prepare_ms`, retired connections forget what
//! they prepared, and bad settings are errors naming the field.

mod common;

use poolcast_sim::{ConfigError, ScenarioFile, Summary};

/// Low load on a fixed pool of 10 (mostly idle), 8 equally popular
/// patterns and room for 2 in each cache: a request finds its pattern on
/// some idle connection almost always, but on the most recently used one
/// only about a quarter of the time.
fn scenario(affinity: &str, pool_extra: &str) -> String {
    format!(
        r#"
seed = 3
[[scenario]]
name = "few-patterns"
duration_s = 300
load = {{ base_rate = 100.0 }}
classes = [{{ class = "read", share = 1.0, patterns = 8, pattern_zipf = 0.0, service = {{ kind = "exponential", mean_ms = 10.0 }} }}]
pool = {{ min_size = 10, max_size = 10, affinity = {{ {affinity} }} {pool_extra} }}
"#
    )
}

fn run(affinity: &str) -> Summary {
    let (s, _) = common::run_toml(&scenario(affinity, ""));
    assert!(s.conserves());
    assert_eq!(
        s.statement_cache_hits + s.statement_cache_misses,
        s.grants,
        "one lookup per grant"
    );
    s
}

fn rate(s: &Summary) -> f64 {
    s.cache_hit_rate.expect("lookups happened")
}

#[test]
fn routing_by_affinity_raises_the_hit_rate() {
    let on = run("enabled = true, cache_size = 2");
    let off = run("enabled = false, cache_size = 2");
    assert!(
        rate(&on) > rate(&off),
        "on {} vs off {}",
        rate(&on),
        rate(&off)
    );
    // Not by a hair: routing finds a holder almost always, the most
    // recently used connection holds 2 of 8 patterns.
    assert!(rate(&on) > 0.9, "on {}", rate(&on));
    assert!(rate(&off) < 0.5, "off {}", rate(&off));
    // Same offered traffic either way.
    assert_eq!(on.requests, off.requests);
    // The defaults route by affinity with a 256-pattern cache.
    let default = run("");
    assert!(rate(&default) > 0.99, "default {}", rate(&default));
    assert!(default.statement_cache_misses <= 10 * 8);
}

#[test]
fn no_cache_means_no_hits() {
    for enabled in ["true", "false"] {
        let s = run(&format!("enabled = {enabled}, cache_size = 0"));
        assert_eq!(s.statement_cache_hits, 0);
        assert_eq!(s.statement_cache_misses, s.grants);
        assert_eq!(s.cache_hit_rate, Some(0.0));
    }
}

#[test]
fn prepare_time_costs_more_without_affinity() {
    let hold = |a: &str| run(a).mean_hold_ms;
    let on_0 = hold("enabled = true, cache_size = 2");
    let off_0 = hold("enabled = false, cache_size = 2");
    let on = run("enabled = true, cache_size = 2, prepare_ms = 5.0");
    let off = run("enabled = false, cache_size = 2, prepare_ms = 5.0");
    let (d_on, d_off) = (on.mean_hold_ms - on_0, off.mean_hold_ms - off_0);
    assert!(d_on > 0.0, "a miss costs prepare time ({d_on})");
    assert!(d_off > d_on, "off +{d_off} ms vs on +{d_on} ms");
    // Each miss adds exactly 5 ms to its hold, so the mean grows by 5 ms ×
    // the miss fraction (of the requests that ended; a handful are still
    // holding at the end).
    for (s, d) in [(&on, d_on), (&off, d_off)] {
        let expected = 5.0 * (1.0 - rate(s));
        assert!(
            (d - expected).abs() < 0.02 * expected + 0.01,
            "hold grew {d} ms, expected {expected}"
        );
    }
}

/// The scenario above with the default cache (all 8 patterns fit) and
/// connections that retire every `max_lifetime_s` (no jitter).
fn lifetimes(max_lifetime_s: f64) -> Summary {
    let (s, _) = common::run_toml(&scenario(
        "",
        &format!(", max_lifetime_s = {max_lifetime_s}, max_lifetime_jitter = 0.0"),
    ));
    assert!(s.conserves());
    s
}

#[test]
fn retired_connections_forget_their_statements() {
    let kept = lifetimes(1e9);
    let retired = lifetimes(5.0);
    assert_eq!(kept.connections_closed, 0);
    // 10 connections × 8 patterns at most, then only hits.
    assert!(
        kept.statement_cache_misses <= 80,
        "{}",
        kept.statement_cache_misses
    );
    // About 60 generations of 10 connections: each replacement, in the same
    // slot (the core reuses ConnIds), starts cold and prepares again. Were
    // the cache kept across the slot's reuse, misses would stay at most 80.
    assert!(
        retired.connections_closed >= 500,
        "{}",
        retired.connections_closed
    );
    assert!(
        retired.statement_cache_misses >= retired.connections_closed,
        "misses {} vs {} retirements",
        retired.statement_cache_misses,
        retired.connections_closed
    );
    assert!(rate(&retired) < rate(&kept));
}

// ---- bad input -------------------------------------------------------------

const ORIGIN: &str = "x.toml";

#[track_caller]
fn assert_err(affinity: &str, field: &str, needle: &str) {
    let e: ConfigError = match ScenarioFile::parse(&scenario(affinity, ""), ORIGIN) {
        Ok(f) => panic!("expected an error, parsed {f:?}"),
        Err(e) => e,
    };
    assert_eq!(
        e.path,
        format!("{ORIGIN}: {field}"),
        "message: {}",
        e.message
    );
    assert!(
        e.message.contains(needle),
        "{}: message {:?} lacks {needle:?}",
        e.path,
        e.message
    );
    assert!(e.to_string().contains(&e.path));
}

#[test]
fn bad_affinity_settings_name_their_field() {
    assert_err(
        "cache_size = -1",
        "scenario[0].pool.affinity.cache_size",
        "-1",
    );
    assert_err(
        "cache_size = 2.5",
        "scenario[0].pool.affinity.cache_size",
        "expected u32",
    );
    assert_err(
        "foo = 1",
        "scenario[0].pool.affinity.foo",
        "unknown field `foo`",
    );
    assert_err(
        "prepare_ms = -1",
        "scenario[0].pool.affinity.prepare_ms",
        ">= 0",
    );
    assert_err(
        "prepare_ms = nan",
        "scenario[0].pool.affinity.prepare_ms",
        ">= 0",
    );
    assert_err(
        "enabled = 1",
        "scenario[0].pool.affinity.enabled",
        "expected a boolean",
    );
}

#[test]
fn affinity_can_come_from_the_defaults() {
    let f = ScenarioFile::parse(
        r#"
seed = 1
[defaults.pool.affinity]
prepare_ms = 2.0
[[scenario]]
name = "a"
duration_s = 10
load = { base_rate = 10.0 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]
pool = { max_size = 4, affinity = { cache_size = 16 } }
"#,
        ORIGIN,
    )
    .expect("valid");
    let a = &f.scenarios[0].pool.affinity;
    assert_eq!((a.enabled, a.cache_size, a.prepare_ms), (true, 16, 2.0));
}
