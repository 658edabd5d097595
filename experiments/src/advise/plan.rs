//! What `poolcast advise` runs: the experiment manifest it writes for a
//! trace, chosen from the trace's profile and the team's few knobs.
//!
//! Every choice is a function of the trace's span, its clients and the
//! knobs, and each is written into the manifest with the reason beside
//! it, so the run can be read, edited and run again with `poolcast run`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use poolcast_reports::trace::TraceProfile;

/// Intervals the training part is cut into: enough rows for the models
/// (60% of them train, 20% validate, 20% test) without an interval so
/// short that each holds a handful of requests.
const TRAIN_INTERVALS: f64 = 600.0;
/// The shortest and longest telemetry interval advise picks, seconds.
const INTERVAL_RANGE_S: (f64, f64) = (0.001, 60.0);
/// The number of held-out blocks the intervals of the evidence are
/// computed over (fewer when the held-out part is short).
pub const BLOCKS: usize = 10;
/// The fewest training intervals a forecaster is trained on: fewer, and
/// advise compares only the policies that do not forecast.
pub const MIN_TRAIN_ROWS: u32 = 100;

/// The knobs of `poolcast advise` a team knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// The mean acquire wait aimed at, ms.
    pub wait_target_ms: f64,
    /// The pool's upper bound (None: twice the training part's need).
    pub max_size: Option<u32>,
    /// Mean time to open a connection at the target database, ms.
    pub create_ms: f64,
    /// The share of the trace's time held out for evaluation, at its end.
    pub held_out: f64,
    /// Milliseconds added to every replayed hold.
    pub hold_add_ms: f64,
    /// Replay open-loop even when the trace names its clients.
    pub open_loop: bool,
    /// The trace's form, when forced.
    pub format: Option<String>,
    /// A stderr log's `log_line_prefix`, when given.
    pub log_line_prefix: Option<String>,
}

/// The experiment advise runs, decided from a trace's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The experiment's name: `advise-<trace name>`.
    pub name: String,
    /// The trace, absolute, so the manifest runs from anywhere.
    pub trace: PathBuf,
    /// Replay time of the trace's first arrival, s (0 for a log, whose
    /// replay time starts at its first request).
    pub origin_s: f64,
    /// Seconds of the trace replayed: first arrival to last end.
    pub span_s: f64,
    /// Seconds after `origin_s` where the held-out part starts.
    pub split_s: f64,
    /// Telemetry and control interval, s.
    pub interval_s: f64,
    /// The export horizon, in intervals.
    pub horizon: u32,
    /// Whether the training part is long enough to train a forecaster
    /// ([`MIN_TRAIN_ROWS`] intervals).
    pub forecast: bool,
    /// Closed-loop replay (the trace names its clients).
    pub closed_loop: bool,
    /// Clients (sessions, traces) the trace names.
    pub clients: u64,
    /// The pool's upper bound.
    pub max_size: u32,
    /// Whether `max_size` was given.
    pub max_size_given: bool,
    /// The smallest static pool Erlang C says meets the wait target in
    /// every bin of the training part: the careful non-forecasting choice.
    pub static_size: u32,
    /// How long an idle connection stays open, s.
    pub idle_timeout_s: f64,
    /// The knobs as given.
    pub knobs: Knobs,
}

impl Plan {
    /// Decides the experiment for a trace profiled as `p`. `origin_s` is
    /// the replay time of its first arrival.
    ///
    /// # Errors
    /// A trace too short to split, or knobs out of range.
    pub fn new(
        trace: &Path,
        p: &TraceProfile,
        origin_s: f64,
        knobs: Knobs,
    ) -> Result<Plan, String> {
        check_knobs(&knobs)?;
        if !(p.span_s.is_finite() && p.span_s > 0.0) || p.requests < 2 {
            return Err(format!(
                "{}: {} request(s) over {:.3} s: nothing to split into training and held-out time",
                trace.display(),
                p.requests,
                p.span_s
            ));
        }
        let interval_s = nice_floor(p.span_s * (1.0 - knobs.held_out) / TRAIN_INTERVALS)
            .clamp(INTERVAL_RANGE_S.0, INTERVAL_RANGE_S.1);
        // Whole intervals on both sides of the split (a run's telemetry
        // has no partial interval), the held-out part reaching past the
        // last request's end.
        let whole = |s: f64| (s / interval_s).round().max(1.0) * interval_s;
        let split_s = whole(p.span_s * (1.0 - knobs.held_out));
        let span_s = split_s + ((p.span_s - split_s) / interval_s).ceil().max(1.0) * interval_s;
        // A forecast must reach as far ahead as a connection takes to open,
        // and no less than the interval the policy acts on.
        // Capped so the training part's rows still split into train,
        // validation and test with a gap of the horizon between them.
        let train_rows = (split_s / interval_s).round() as u32;
        let horizon = ((knobs.create_ms / 1e3 / interval_s).ceil() as u32)
            .min(train_rows / 20)
            .max(1);
        let static_size = training_need(p, split_s).max(1);
        let max_size = knobs.max_size.unwrap_or((2 * static_size).max(4));
        let clients = p.sessions.sessions;
        Ok(Plan {
            name: experiment_name(trace),
            trace: trace.to_path_buf(),
            origin_s,
            span_s,
            split_s,
            interval_s,
            horizon,
            forecast: train_rows >= MIN_TRAIN_ROWS,
            closed_loop: clients > 1 && !knobs.open_loop,
            clients,
            max_size,
            max_size_given: knobs.max_size.is_some(),
            static_size: static_size.min(max_size),
            // Long enough that a pool does not close what it reopens a few
            // intervals later; short enough to give back a peak's worth
            // within the held-out part.
            idle_timeout_s: (30.0 * interval_s).clamp(1.0, 600.0),
            knobs,
        })
    }

    /// Seconds of the held-out part.
    pub fn held_out_s(&self) -> f64 {
        self.span_s - self.split_s
    }

    /// The manifest's text: the trace split in time, each choice with its
    /// reason.
    pub fn manifest(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut t = String::new();
        let k = &self.knobs;
        let _ = writeln!(
            t,
            "# Written by `poolcast advise` for {trace}.\n\
             # Edit and run again with `poolcast run <this file>`. The trace is split in\n\
             # time: the models train and the predictive thresholds are tuned on the first\n\
             # {train:.1} s; every policy is compared on the {held:.1} s after them.\n",
            trace = self.trace.display(),
            train = self.split_s,
            held = self.held_out_s(),
        );
        let _ = writeln!(
            t,
            "[experiment]\nname = {}\nseed = 1\ndescription = {}\n",
            q(&self.name),
            q(&format!(
                "Advice for the pool serving {}: trained and tuned on its first {:.1} s, \
                 every policy compared on the last {:.1} s, which neither saw.",
                self.trace
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                self.split_s,
                self.held_out_s()
            ))
        );
        let _ = writeln!(
            t,
            "[defaults]\n\
             # {n:.0} intervals in the training part: rows enough for the models\n\
             interval_s = {iv}\n\
             replications = 1\n",
            n = self.split_s / self.interval_s,
            iv = fmt_f(self.interval_s),
        );
        let _ = writeln!(
            t,
            "[defaults.pool]\n\
             min_size = 0\n\
             max_size = {max}{max_why}\n\
             idle_timeout_s = {idle}\n\
             create_time = {{ kind = \"lognormal\", mean_ms = {create}, cv = 0.5 }}   # --create-ms\n\
             policy = {{ kind = \"reactive\" }}\n",
            max = self.max_size,
            max_why = if self.max_size_given {
                "   # --max-size"
            } else {
                "   # twice the most Erlang C asks for in the training part (--max-size)"
            },
            idle = fmt_f(self.idle_timeout_s),
            create = fmt_f(k.create_ms),
        );
        let replay = |start: f64| {
            let mut r = format!(
                "replay = {{ trace = {}, start_s = {}",
                q(&self.trace.display().to_string()),
                fmt_f(start)
            );
            if let Some(f) = &k.format {
                let _ = write!(r, ", format = {}", q(f));
            }
            if let Some(p) = &k.log_line_prefix {
                let _ = write!(r, ", log_line_prefix = {}", q(p));
            }
            if k.hold_add_ms > 0.0 {
                let _ = write!(r, ", hold_add_ms = {}", fmt_f(k.hold_add_ms));
            }
            if self.closed_loop {
                r.push_str(", closed_loop = true");
            }
            r.push_str(" }");
            r
        };
        let _ = writeln!(
            t,
            "[[scenario]]\nname = \"train\"\nduration_s = {}\n{}\n",
            fmt_f(self.split_s),
            replay(self.origin_s)
        );
        let _ = writeln!(
            t,
            "[[scenario]]\nname = \"held-out\"\nduration_s = {}\n{}\n",
            fmt_f(self.held_out_s()),
            replay(self.origin_s + self.split_s)
        );
        let _ = writeln!(t, "[data]\nscenarios = [\"train\"]\n");
        if self.forecast {
            let _ = writeln!(t, "{}", self.dataset());
            let _ = writeln!(
                t,
                "[train]\n\
                 forest = [{{ n_trees = 60, max_depth = 10, max_features = 0.33 }}]\n\
                 boosting = [{{ rounds = 200, learning_rate = 0.08, max_leaves = 15 }}]\n\n\
                 [export]\nhorizon = {}\n\n\
                 [predictive]\ntarget_wait_ms = {}   # --wait-target-ms\n",
                self.horizon,
                fmt_f(k.wait_target_ms)
            );
            let _ = writeln!(
                t,
                "[tuning]\n\
                 replications = 1\n\
                 minimize = \"connection_seconds\"\n\
                 constraints = {{ wait_mean_ms = {} }}\n\
                 [tuning.space]\n\
                 \"policy.headroom\" = [1.0, 1.25, 1.5]\n\
                 \"policy.cooldown_down\" = [3, 12]\n",
                fmt_f(k.wait_target_ms)
            );
        } else {
            let _ = writeln!(
                t,
                "# The training part holds {} intervals, under the {MIN_TRAIN_ROWS} a forecaster\n\
                 # is trained on: only the policies that do not forecast are compared.\n",
                (self.split_s / self.interval_s).round()
            );
        }
        let forecasting = if self.forecast {
            "\n  \"predictive\", \"predictive-naive\", \"predictive-ideal\", \"static-matched\","
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "[evaluation]\n\
             scenarios = [\"held-out\"]\n\
             replications = 2\n\
             # static-{s}: the smallest static pool Erlang C says meets the wait target in\n\
             # every bin of the training part\n\
             policies = [\n  \"static-max\", \"static-{s}\", \"reactive\",\n  \
             \"adaptive-conservative\", \"adaptive-moderate\", \"adaptive-aggressive\",\
             {forecasting}\n  \"oracle\",\n]\n\n\
             [claims]\nbaseline = \"static-{s}\"",
            s = self.static_size
        );
        t
    }

    /// `[dataset]`: horizons, and features whose windows fit the training
    /// part.
    fn dataset(&self) -> String {
        let rows = (self.split_s / self.interval_s) as u32;
        let fit = |v: &[u32]| -> Vec<u32> {
            let kept: Vec<u32> = v.iter().copied().filter(|&w| w * 5 <= rows).collect();
            if kept.is_empty() { vec![v[0]] } else { kept }
        };
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        // A daily season only when the trace holds two days of it.
        let day = 86_400.0;
        let (seasons, ahead) = if self.split_s >= 2.0 * day && self.interval_s >= 0.05 {
            ("86400", format!("0, {}", self.horizon))
        } else {
            ("", String::new())
        };
        format!(
            "[dataset]\n\
             horizons = [{h}]   # a forecast reaches as far ahead as a connection takes to open\n\
             season_s = 86400\n\
             [dataset.features]\n\
             windows = [{w}]\n\
             lags = [{l}]\n\
             ewma_spans = [{e}]\n\
             seasons_s = [{seasons}]\n\
             season_ahead = [{ahead}]\n",
            h = self.horizon,
            w = list(&fit(&[5, 20, 60])),
            l = list(&fit(&[1, 2, 5, 10])),
            e = list(&fit(&[5, 20, 60])),
        )
    }
}

/// Refuses knobs that mean nothing.
fn check_knobs(k: &Knobs) -> Result<(), String> {
    if !(k.wait_target_ms.is_finite() && k.wait_target_ms > 0.0) {
        return Err(format!(
            "--wait-target-ms: expected a number of ms above 0, found {}",
            k.wait_target_ms
        ));
    }
    if !(k.create_ms.is_finite() && k.create_ms > 0.0 && k.create_ms <= 600_000.0) {
        return Err(format!(
            "--create-ms: expected a number of ms in (0, 600000], found {}",
            k.create_ms
        ));
    }
    if !(k.held_out.is_finite() && k.held_out >= 0.1 && k.held_out <= 0.9) {
        return Err(format!(
            "--held-out: expected a share of the trace in [0.1, 0.9], found {}",
            k.held_out
        ));
    }
    if !(k.hold_add_ms.is_finite() && k.hold_add_ms >= 0.0) {
        return Err(format!(
            "--hold-add-ms: expected a number of ms at least 0, found {}",
            k.hold_add_ms
        ));
    }
    if k.max_size == Some(0) {
        return Err("--max-size: expected at least 1 connection".into());
    }
    Ok(())
}

/// The most Erlang C asks for in a bin that starts before `split_s`.
fn training_need(p: &TraceProfile, split_s: f64) -> u32 {
    let s = &p.series;
    s.t_s
        .iter()
        .zip(&s.pool_needed)
        .filter(|(t, n)| **t < split_s && n.is_finite())
        .map(|(_, n)| *n)
        .fold(0.0_f64, f64::max)
        .ceil() as u32
}

/// `advise-<trace file name>`, kept to the characters a directory name
/// can hold everywhere.
fn experiment_name(trace: &Path) -> String {
    let stem = trace
        .file_stem()
        .map_or_else(|| "trace".into(), |n| n.to_string_lossy().into_owned());
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("advise-{}", if clean.is_empty() { "trace" } else { &clean })
}

/// The largest 1, 2 or 5 × 10^k not above `x` (x > 0).
fn nice_floor(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return INTERVAL_RANGE_S.0;
    }
    let p = 10f64.powf(x.log10().floor());
    let m = x / p;
    let f = if m >= 5.0 {
        5.0
    } else if m >= 2.0 {
        2.0
    } else {
        1.0
    };
    // Round away float noise (0.1 × 2 = 0.2000000004).
    let v = f * p;
    (v * 1e6).round() / 1e6
}

/// A number as TOML writes it, without float noise.
fn fmt_f(v: f64) -> String {
    let r = (v * 1e6).round() / 1e6;
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_floor_picks_one_two_five() {
        assert_eq!(nice_floor(0.37), 0.2);
        assert_eq!(nice_floor(1.0), 1.0);
        assert_eq!(nice_floor(7.9), 5.0);
        assert_eq!(nice_floor(23.0), 20.0);
        assert_eq!(nice_floor(0.053), 0.05);
    }

    #[test]
    fn names_keep_to_safe_characters() {
        assert_eq!(
            experiment_name(Path::new("/x/postgresql-2026.12.07 (1).csv")),
            "advise-postgresql-2026-12-07--1-"
        );
    }

    fn knobs() -> Knobs {
        Knobs {
            wait_target_ms: 5.0,
            max_size: None,
            create_ms: 50.0,
            held_out: 1.0 / 3.0,
            hold_add_ms: 0.0,
            open_loop: false,
            format: None,
            log_line_prefix: None,
        }
    }

    #[test]
    fn knobs_out_of_range_are_named() {
        let mut k = knobs();
        k.held_out = 0.95;
        assert!(check_knobs(&k).unwrap_err().contains("--held-out"));
        let mut k = knobs();
        k.create_ms = f64::NAN;
        assert!(check_knobs(&k).unwrap_err().contains("--create-ms"));
        let mut k = knobs();
        k.max_size = Some(0);
        assert!(check_knobs(&k).unwrap_err().contains("--max-size"));
    }

    #[test]
    fn an_hour_is_cut_into_second_intervals_and_sized_on_its_training_part() {
        let mut p = TraceProfile {
            requests: 1000,
            span_s: 3600.0,
            ..Default::default()
        };
        p.sessions.sessions = 40;
        p.series.t_s = (0..3600).map(f64::from).collect();
        // The held-out hour's last third asks for more than the rest: the
        // static pool must not know it.
        p.series.pool_needed = (0..3600)
            .map(|i| if i < 2400 { 6.0 } else { 30.0 })
            .collect();
        let plan = Plan::new(Path::new("/t/pg.csv"), &p, 0.0, knobs()).unwrap();
        assert_eq!(plan.interval_s, 2.0);
        assert_eq!(plan.split_s, 2400.0);
        assert_eq!(plan.static_size, 6);
        assert_eq!(plan.max_size, 12);
        assert_eq!(plan.horizon, 1);
        assert!(plan.closed_loop);
        let m = plan.manifest();
        assert!(m.contains("start_s = 2400.0"), "{m}");
        assert!(m.contains("\"static-6\""), "{m}");
        assert!(m.contains("closed_loop = true"), "{m}");
    }
}
