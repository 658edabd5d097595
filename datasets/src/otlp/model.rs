//! The parts of OTLP/JSON that the readers use, as serde types.
//!
//! OTLP/JSON is protobuf's JSON mapping with the OTLP exceptions: ids are
//! hex strings, enums are integers. Writers differ in the details, and
//! both forms are read:
//!
//! - 64-bit integers as strings (the Collector's `file` exporter,
//!   protobuf's mapping) or as numbers (the JavaScript SDK);
//! - enums as integers or as their names (`"SPAN_KIND_CLIENT"`);
//! - empty fields present (`"events": []`) or left out.
//!
//! Unknown keys are ignored, so newer fields do not break the reader.

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// One line of an OTLP/JSON traces file: an `ExportTraceServiceRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TracesData {
    #[serde(default)]
    pub(crate) resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceSpans {
    #[serde(default, alias = "instrumentationLibrarySpans")]
    pub(crate) scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ScopeSpans {
    #[serde(default)]
    pub(crate) spans: Vec<Span>,
}

/// A span: the fields a pool's view of a query needs.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Span {
    #[serde(default)]
    pub(crate) trace_id: String,
    #[serde(default)]
    pub(crate) parent_span_id: String,
    /// `SPAN_KIND_CLIENT` is 3.
    #[serde(default, deserialize_with = "enum_value")]
    pub(crate) kind: i64,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) end_time_unix_nano: u64,
    #[serde(default)]
    pub(crate) attributes: Vec<KeyValue>,
    #[serde(default)]
    pub(crate) events: Vec<SpanEvent>,
    #[serde(default)]
    pub(crate) status: Status,
}

/// `SPAN_KIND_CLIENT`.
pub(crate) const SPAN_KIND_CLIENT: i64 = 3;
/// `STATUS_CODE_ERROR`.
pub(crate) const STATUS_CODE_ERROR: i64 = 2;

#[derive(Deserialize, Default)]
pub(crate) struct SpanEvent {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
pub(crate) struct Status {
    /// `STATUS_CODE_ERROR` is 2.
    #[serde(default, deserialize_with = "enum_value")]
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) message: String,
}

/// One attribute.
#[derive(Deserialize, Default)]
pub(crate) struct KeyValue {
    #[serde(default)]
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: AnyValue,
}

/// An attribute's value: strings and numbers (other kinds read as
/// absent).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnyValue {
    #[serde(default)]
    pub(crate) string_value: Option<String>,
    #[serde(default, deserialize_with = "opt_i64_value")]
    pub(crate) int_value: Option<i64>,
    #[serde(default)]
    pub(crate) double_value: Option<f64>,
}

impl AnyValue {
    /// The value as text (a number written out), or `None`.
    pub(crate) fn text(&self) -> Option<String> {
        if let Some(s) = &self.string_value {
            return Some(s.clone());
        }
        if let Some(i) = self.int_value {
            return Some(i.to_string());
        }
        self.double_value.map(|d| d.to_string())
    }
}

/// The string value of attribute `key` among `attrs`.
pub(crate) fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The string value of the first of `keys` that `attrs` has as a string.
pub(crate) fn attr_str<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(|v| v.string_value.as_deref()))
}

/// One line of an OTLP/JSON metrics file: an `ExportMetricsServiceRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricsData {
    #[serde(default)]
    pub(crate) resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceMetrics {
    #[serde(default, alias = "instrumentationLibraryMetrics")]
    pub(crate) scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ScopeMetrics {
    #[serde(default)]
    pub(crate) metrics: Vec<Metric>,
}

/// A metric: a sum, a gauge or a histogram (the kinds the connection-pool
/// conventions use).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metric {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) unit: String,
    #[serde(default)]
    pub(crate) sum: Option<Sum>,
    #[serde(default)]
    pub(crate) gauge: Option<Gauge>,
    #[serde(default)]
    pub(crate) histogram: Option<Histogram>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sum {
    #[serde(default)]
    pub(crate) data_points: Vec<NumberDataPoint>,
    /// 1 delta, 2 cumulative.
    #[serde(default, deserialize_with = "enum_value")]
    pub(crate) aggregation_temporality: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Gauge {
    #[serde(default)]
    pub(crate) data_points: Vec<NumberDataPoint>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Histogram {
    #[serde(default)]
    pub(crate) data_points: Vec<HistogramDataPoint>,
    /// 1 delta, 2 cumulative.
    #[serde(default, deserialize_with = "enum_value")]
    pub(crate) aggregation_temporality: i64,
}

/// `AGGREGATION_TEMPORALITY_DELTA`.
pub(crate) const TEMPORALITY_DELTA: i64 = 1;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NumberDataPoint {
    #[serde(default)]
    pub(crate) attributes: Vec<KeyValue>,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) time_unix_nano: u64,
    #[serde(default, deserialize_with = "opt_i64_value")]
    pub(crate) as_int: Option<i64>,
    #[serde(default)]
    pub(crate) as_double: Option<f64>,
}

impl NumberDataPoint {
    /// The point's value, whichever way it is written.
    pub(crate) fn value(&self) -> Option<f64> {
        self.as_double
            .or(self.as_int.map(|i| i as f64))
            .filter(|v| v.is_finite())
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistogramDataPoint {
    #[serde(default)]
    pub(crate) attributes: Vec<KeyValue>,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) time_unix_nano: u64,
    #[serde(default, deserialize_with = "u64_value")]
    pub(crate) count: u64,
    #[serde(default)]
    pub(crate) sum: Option<f64>,
    #[serde(default)]
    pub(crate) max: Option<f64>,
}

/// A number or a string of digits (protobuf's JSON mapping writes 64-bit
/// integers as strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(serde_json::Number),
    Str(String),
}

fn parse_i64(v: NumOrStr) -> Result<i64, String> {
    match v {
        NumOrStr::Num(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("expected a 64-bit integer, found {n}")),
        NumOrStr::Str(s) => s.trim().parse::<i64>().map_err(|_| {
            format!(
                "expected a 64-bit integer, found {:?}",
                s.chars().take(30).collect::<String>()
            )
        }),
    }
}

fn u64_value<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Str(s) => s.trim().parse::<u64>().map_err(|_| {
            de::Error::custom(format!(
                "expected an unsigned 64-bit integer, found {:?}",
                s.chars().take(30).collect::<String>()
            ))
        }),
        NumOrStr::Num(n) => n.as_u64().ok_or_else(|| {
            de::Error::custom(format!("expected an unsigned 64-bit integer, found {n}"))
        }),
    }
}

fn opt_i64_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<NumOrStr>::deserialize(d)?
        .map(parse_i64)
        .transpose()
        .map_err(de::Error::custom)
}

/// An enum as its number or its protobuf name (`"SPAN_KIND_CLIENT"`,
/// `"STATUS_CODE_ERROR"`, `"AGGREGATION_TEMPORALITY_DELTA"`).
fn enum_value<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => n
            .as_i64()
            .ok_or_else(|| de::Error::custom(format!("expected an enum number, found {n}"))),
        NumOrStr::Str(s) => Ok(match s.as_str() {
            "SPAN_KIND_UNSPECIFIED"
            | "STATUS_CODE_UNSET"
            | "AGGREGATION_TEMPORALITY_UNSPECIFIED" => 0,
            "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" | "AGGREGATION_TEMPORALITY_DELTA" => 1,
            "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" | "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
            "SPAN_KIND_CLIENT" => 3,
            "SPAN_KIND_PRODUCER" => 4,
            "SPAN_KIND_CONSUMER" => 5,
            other => other.parse::<i64>().map_err(|_| {
                de::Error::custom(format!(
                    "expected an enum number or name, found {:?}",
                    other.chars().take(40).collect::<String>()
                ))
            })?,
        }),
    }
}
