use poolcast_sim::ScenarioFile;
const BASE: &str = r#"
seed = 1
[[scenario]]
name = "a"
duration_s = 10
load = { base_rate = 10.0 }
classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]
pool = { min_size = 1, max_size = 4 }
"#;
#[test]
#[ignore]
fn probe() {
    let cases = [
        BASE.replace("max_size = 4", "max_sizee = 4"),
        BASE.replace("base_rate = 10.0", "base_rate = -1"),
        BASE.replace("min_size = 1", "min_size = 5"),
        BASE.replace(r#"classes = [{ class = "read", share = 1.0, service = { kind = "exponential", mean_ms = 5.0 } }]"#, "classes = []"),
        BASE.replace("share = 1.0", "share = 0.0"),
        BASE.replace("share = 1.0", "share = -1.0"),
        BASE.replace("class = \"read\"", "class = \"reed\""),
        BASE.replace("load = { base_rate = 10.0 }", "load = { base_rate = 10.0, patterns = [{ kind = \"spike\", start_s = 1, duration_s = 2, multiplier = 0 }] }"),
        BASE.replace("load = { base_rate = 10.0 }", "load = { base_rate = 10.0, patterns = [{ kind = \"spikey\", start_s = 1 }] }"),
        format!("{BASE}failures = {{ query_rate = 1.5 }}\n"),
        BASE.replace("seed = 1", ""),
        format!("{BASE}\n[[scenario]]\nname = \"a\"\nduration_s = 10\nload = {{ base_rate = 1.0 }}\nclasses = [{{ class = \"read\", share = 1.0, service = {{ kind = \"exponential\", mean_ms = 5.0 }} }}]\n"),
        BASE.replace("duration_s = 10", "duration_s = 10 ="),
        BASE.replace("pool = { min_size = 1, max_size = 4 }", "pool = { min_size = 1, max_size = 1 }").replace("base_rate = 10.0", "base_rate = 500.0"),
        format!("{BASE}breaker = {{ connection = {{ failure_count = 0 }} }}\n"),
        BASE.replace("max_size = 4 }", "max_size = 4, policy = { kind = \"reactive\", scale_up_utilization = 2.0 } }"),
        BASE.replace("duration_s = 10", ""),
        BASE.replace("seed = 1", "seed = -3"),
        BASE.replace("seed = 1", "seed = 1\nfoo = 2"),
        BASE.replace("[[scenario]]", "defaults = 3\n[[scenario]]"),
    ];
    for c in cases {
        match ScenarioFile::parse(&c, "x.toml") {
            Ok(f) => println!("OK warnings={:?}", f.warnings),
            Err(e) => println!("ERR path={:?} msg={:?}", e.path, e.message),
        }
    }
}
