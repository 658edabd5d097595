//! # poolcast-reports
//!
//! Charts (plotters) and HTML/Markdown/JSON reports. It takes plain
//! serializable inputs and depends on no other poolcast crate. Filled by the
//! reports issue.
